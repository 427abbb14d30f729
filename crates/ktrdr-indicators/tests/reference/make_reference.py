#!/usr/bin/env python3
"""Reference values for ktrdr-indicators, computed independently with pandas.

Each indicator is written here from the formulas of training-spec.md §6 (and, for the
others, the formulas documented in the crate's registry), the way a pandas user would
write them, not by translating the Rust code. The Rust test `tests/reference.rs` reads
the same bars from the IB file and compares every value (NaN positions exactly, values
to 1e-9 relative).

    python3 -m venv /tmp/refvenv && /tmp/refvenv/bin/pip install pandas numpy
    /tmp/refvenv/bin/python make_reference.py            # rewrites the CSVs next to it
    /tmp/refvenv/bin/python make_reference.py --bench    # times the Python-style versions

Deliberate differences from the Python ktrdr classes (the crate's rules, not bugs here):
- a 0/0 gives NaN, never a filled 0 or 50 (Stochastic, Williams %R, ADX's DX, CCI);
- Stochastic's smoothing windows need all their values (the classes used min_periods=1);
- the EMA has no test hack (§5.12).
"""

import argparse
import os
import re
import statistics
import sys
import time

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
IB_FILE = os.path.join(HERE, "..", "..", "..", "..", "..", "shared", "data", "ib", "MSFT_1h.csv")
# The rows of MSFT_1h.csv used (0-based data rows, end excluded); tests/reference.rs reads the same.
FIRST_ROW, END_ROW = 15000, 17000


def load_bars():
    df = pd.read_csv(IB_FILE, index_col=0)
    df = df.iloc[FIRST_ROW:END_ROW].reset_index(drop=True)
    assert len(df) == END_ROW - FIRST_ROW
    return df


# --- the indicators ------------------------------------------------------------------------

def rsi(x: pd.Series, n: int) -> pd.Series:
    """Wilder's RSI as a loop over the bars, as the Python class does it."""
    values = x.to_numpy()
    out = np.full(len(values), np.nan)
    delta = np.diff(values)
    if len(delta) < n:
        return pd.Series(out)
    gains = np.where(delta > 0, delta, 0.0)
    losses = np.where(delta < 0, -delta, 0.0)
    avg_gain = gains[:n].mean()
    avg_loss = losses[:n].mean()

    def value(g, l):
        if l == 0:
            return 50.0 if g == 0 else 100.0
        return 100.0 - 100.0 / (1.0 + g / l)

    out[n] = value(avg_gain, avg_loss)
    for i in range(n + 1, len(values)):
        avg_gain = (avg_gain * (n - 1) + gains[i - 1]) / n
        avg_loss = (avg_loss * (n - 1) + losses[i - 1]) / n
        out[i] = value(avg_gain, avg_loss)
    return pd.Series(out)


def true_range(df):
    prev_close = df["close"].shift(1)
    tr = pd.concat(
        [df["high"] - df["low"], (df["high"] - prev_close).abs(), (df["low"] - prev_close).abs()],
        axis=1,
    ).max(axis=1)
    tr.iloc[0] = df["high"].iloc[0] - df["low"].iloc[0]
    return tr


def nan_div(a, b):
    return a / b.where(b != 0)


def macd(x, fast, slow, signal):
    line = x.ewm(span=fast, adjust=False).mean() - x.ewm(span=slow, adjust=False).mean()
    sig = line.ewm(span=signal, adjust=False).mean()
    return [line, sig, line - sig]


def bollinger(x, n, k):
    mid = x.rolling(n).mean()
    sd = x.rolling(n).std(ddof=1)
    return [mid + k * sd, mid, mid - k * sd]


def stochastic(df, k, d, smooth):
    hh = df["high"].rolling(k).max()
    ll = df["low"].rolling(k).min()
    raw = 100 * nan_div(df["close"] - ll, hh - ll)
    pk = raw.rolling(smooth).mean()
    return [pk, pk.rolling(d).mean()]


def adx(df, n):
    tr = true_range(df)
    up = df["high"].diff()
    down = -df["low"].diff()
    plus_dm = pd.Series(np.where((up > down) & (up > 0), up, 0.0))
    minus_dm = pd.Series(np.where((down > up) & (down > 0), down, 0.0))
    wilder = lambda s: s.ewm(alpha=1.0 / n, adjust=False, ignore_na=True).mean()
    tr_s = wilder(tr)
    plus_di = 100 * nan_div(wilder(plus_dm), tr_s)
    minus_di = 100 * nan_div(wilder(minus_dm), tr_s)
    dx = 100 * nan_div((plus_di - minus_di).abs(), plus_di + minus_di)
    return [wilder(dx), plus_di, minus_di]


def atr(df, n):
    return [true_range(df).rolling(n).mean()]


def zigzag_extremes(close, t):
    """Section 1.6 of the spec, written out as a plain loop."""
    p = list(close)
    if not p:
        return []
    marks = [0]
    direction = 0
    for i in range(1, len(p)):
        ext = p[marks[-1]]
        if direction == 0:
            if abs(p[i] / p[0] - 1) >= t:
                marks.append(i)
                direction = 1 if p[i] > p[0] else -1
        elif direction == 1:
            if p[i] > ext:
                marks[-1] = i
            elif p[i] / ext - 1 <= -t:
                marks.append(i)
                direction = -1
        else:
            if p[i] < ext:
                marks[-1] = i
            elif p[i] / ext - 1 >= t:
                marks.append(i)
                direction = 1
    return marks


def zigzag(df, t):
    out = pd.Series(np.nan, index=df.index)
    idx = zigzag_extremes(df["close"], t)
    out.iloc[idx] = df["close"].iloc[idx]
    return [out]


def zigzag_labels(close, t, lookahead):
    labels = np.ones(len(close), dtype=int)
    marks = zigzag_extremes(close, t)
    for i, j in zip(marks, marks[1:]):
        label = 0 if close[j] > close[i] else 2
        for k in range(i + 1, j):
            if lookahead is None or j - k <= lookahead:
                labels[k] = label
    return labels


def williams_r(df, n):
    hh = df["high"].rolling(n).max()
    ll = df["low"].rolling(n).min()
    return [-100 * nan_div(hh - df["close"], hh - ll)]


def typical(df):
    return (df["high"] + df["low"] + df["close"]) / 3


def cci(df, n):
    tp = typical(df)
    sma = tp.rolling(n).mean()
    mad = tp.rolling(n).apply(lambda w: np.abs(w - w.mean()).mean(), raw=True)
    return [nan_div(tp - sma, 0.015 * mad)]


def roc(x, n):
    old = x.shift(n)
    return [100 * nan_div(x - old, old)]


def obv(df):
    change = df["close"].diff()
    signed = np.where(change > 0, df["volume"], np.where(change < 0, -df["volume"], 0.0))
    return [pd.Series(signed).cumsum()]


def mfi(df, n):
    tp = typical(df)
    flow = tp * df["volume"]
    change = tp.diff()
    pos = pd.Series(np.where(change > 0, flow, 0.0)).where(change.notna())
    neg = pd.Series(np.where(change < 0, flow, 0.0)).where(change.notna())
    ps, ns = pos.rolling(n).sum(), neg.rolling(n).sum()
    return [100 * nan_div(ps, ps + ns)]


def aroon(df, n):
    # Bars since the extreme over the last n + 1 bars, the most recent one on ties.
    since_high = df["high"].rolling(n + 1).apply(lambda w: np.argmax(w[::-1]), raw=True)
    since_low = df["low"].rolling(n + 1).apply(lambda w: np.argmin(w[::-1]), raw=True)
    up = 100 * (n - since_high) / n
    down = 100 * (n - since_low) / n
    return [up, down, up - down]


def donchian(df, n):
    upper = df["high"].rolling(n).max()
    lower = df["low"].rolling(n).min()
    return [upper, (upper + lower) / 2, lower]


def keltner(df, n, atr_n, k):
    mid = df["close"].ewm(span=n, adjust=False).mean()
    a = true_range(df).rolling(atr_n).mean()
    return [mid + k * a, mid, mid - k * a]


def vwap(df, n):
    pv = typical(df) * df["volume"]
    if n == 0:
        return [nan_div(pv.cumsum(), df["volume"].cumsum())]
    return [nan_div(pv.rolling(n).sum(), df["volume"].rolling(n).sum())]


def bb_width(x, n, k):
    upper, mid, lower = bollinger(x, n, k)
    return [nan_div(upper - lower, mid)]


def cmf(df, n):
    rng = df["high"] - df["low"]
    mult = (((df["close"] - df["low"]) - (df["high"] - df["close"])) / rng.where(rng != 0)).fillna(0.0)
    flow = mult * df["volume"]
    return [nan_div(flow.rolling(n).sum(), df["volume"].rolling(n).sum())]


def supertrend(df, n, k):
    """The SuperTrend loop of the Python class, started at the first bar with an ATR."""
    atr = true_range(df).rolling(n).mean().to_numpy()
    high, low, close = df["high"].to_numpy(), df["low"].to_numpy(), df["close"].to_numpy()
    mid = (high + low) / 2
    basic_upper, basic_lower = mid + k * atr, mid - k * atr
    line = np.full(len(close), np.nan)
    direction = np.full(len(close), np.nan)
    first = n - 1
    upper, lower = basic_upper[first], basic_lower[first]
    trend = -1 if close[first] <= lower else 1
    line[first] = lower if trend == 1 else upper
    direction[first] = trend
    for i in range(first + 1, len(close)):
        upper = basic_upper[i] if basic_upper[i] < upper or close[i - 1] > upper else upper
        lower = basic_lower[i] if basic_lower[i] > lower or close[i - 1] < lower else lower
        if trend == 1:
            trend = -1 if close[i] <= lower else 1
        else:
            trend = 1 if close[i] >= upper else -1
        line[i] = lower if trend == 1 else upper
        direction[i] = trend
    return [pd.Series(line), pd.Series(direction)]


def ad_line(df, smoothing):
    rng = df["high"] - df["low"]
    mult = (((df["close"] - df["low"]) - (df["high"] - df["close"])) / rng.where(rng != 0)).fillna(0.0)
    ad = (mult * df["volume"]).cumsum()
    return [ad, ad.rolling(smoothing).mean()]


def parabolic_sar(df, initial, step, max_af):
    """Wilder's SAR, started from the first two bars as the Python class does."""
    high, low, close = df["high"].to_numpy(), df["low"].to_numpy(), df["close"].to_numpy()
    sar = np.full(len(close), np.nan)
    up = close[1] > close[0]
    ep = high[1] if up else low[1]
    sar[1] = low[0] if up else high[0]
    af = initial
    for i in range(2, len(close)):
        s = sar[i - 1] + af * (ep - sar[i - 1])
        if (up and low[i] <= s) or (not up and high[i] >= s):
            up = not up
            s = ep
            af = initial
            ep = high[i] if up else low[i]
        elif up:
            s = min(s, low[i - 1], low[i - 2])
            if high[i] > ep:
                ep = high[i]
                af = min(af + step, max_af)
        else:
            s = max(s, high[i - 1], high[i - 2])
            if low[i] < ep:
                ep = low[i]
                af = min(af + step, max_af)
        sar[i] = s
    return [pd.Series(sar)]


def rvi(df, n, signal):
    body = df["close"] - df["open"]
    rng = df["high"] - df["low"]
    weights = np.array([1.0, 2.0, 2.0, 1.0]) / 6.0
    w = lambda s: s.rolling(4).apply(lambda v: float(np.dot(v, weights)), raw=True)
    line = nan_div(w(body).rolling(n).mean(), w(rng).rolling(n).mean())
    return [line, line.rolling(signal).mean()]


def fisher(df, n, smoothing):
    hh = df["high"].rolling(n).max()
    ll = df["low"].rolling(n).min()
    mid = (df["high"] + df["low"]) / 2
    x = (2 * nan_div(mid - ll, hh - ll) - 1).clip(-0.999, 0.999)
    raw = 0.5 * np.log((1 + x) / (1 - x))
    smooth = raw.ewm(span=smoothing, adjust=False, ignore_na=True).mean()
    return [smooth, smooth.shift(1)]


def ichimoku(df, tenkan, kijun, senkou_b, displacement):
    mid = lambda n: (df["high"].rolling(n).max() + df["low"].rolling(n).min()) / 2
    t, k = mid(tenkan), mid(kijun)
    return [t, k, ((t + k) / 2).shift(displacement), mid(senkou_b).shift(displacement)]


def squeeze_intensity(df, bb_n, bb_k, kc_n, kc_k):
    bb_upper, _, bb_lower = bollinger(df["close"], bb_n, bb_k)
    kc_upper, _, kc_lower = keltner(df, kc_n, 10, kc_k)
    width = kc_upper - kc_lower
    inner = np.minimum(nan_div(kc_upper - bb_upper, width), nan_div(bb_lower - kc_lower, width))
    return [np.maximum(0, inner)]


# (file stem, CLI spec the Rust test parses, column names, function[, absolute tolerance])
# The Rust test allows 1e-9 relative with an absolute floor of 1e-12; a case whose values are
# small differences of price-sized numbers states its own floor (the squeeze intensity
# subtracts bands near 260: its last digits are the prices' rounding, ~1e-11 here).
CASES = [
    ("rsi_14", "rsi", ["rsi_14"], lambda d: [rsi(d["close"], 14)]),
    ("rsi_7_open", "rsi:period=7,source=open", ["rsi_7_open"], lambda d: [rsi(d["open"], 7)]),
    ("sma_20", "sma", ["sma_20"], lambda d: [d["close"].rolling(20).mean()]),
    ("ema_20", "ema", ["ema_20"], lambda d: [d["close"].ewm(span=20, adjust=True).mean()]),
    ("ema_10_noadjust", "ema:period=10,adjust=false", ["ema_10"],
     lambda d: [d["close"].ewm(span=10, adjust=False).mean()]),
    ("macd", "macd", ["macd_12_26", "macd_signal_12_26_9", "macd_hist_12_26_9"],
     lambda d: macd(d["close"], 12, 26, 9)),
    ("bbands", "bbands", ["bb_upper_20_2", "bb_middle_20_2", "bb_lower_20_2"],
     lambda d: bollinger(d["close"], 20, 2.0)),
    ("stoch", "stoch", ["stoch_k_14_3", "stoch_d_14_3_3"], lambda d: stochastic(d, 14, 3, 3)),
    ("adx", "adx", ["adx_14", "plus_di_14", "minus_di_14"], lambda d: adx(d, 14)),
    ("atr", "atr", ["atr_14"], lambda d: atr(d, 14)),
    ("zigzag", "zigzag:threshold=0.03", ["zigzag_0.03"], lambda d: zigzag(d, 0.03)),
    ("williams_r", "williamsr", ["williams_r_14"], lambda d: williams_r(d, 14)),
    ("cci", "cci", ["cci_20"], lambda d: cci(d, 20)),
    ("momentum", "momentum", ["momentum_10"], lambda d: [d["close"] - d["close"].shift(10)]),
    ("roc", "roc", ["roc_10"], lambda d: roc(d["close"], 10)),
    ("obv", "obv", ["obv"], obv),
    ("mfi", "mfi", ["mfi_14"], lambda d: mfi(d, 14)),
    ("aroon", "aroon", ["aroon_up_14", "aroon_down_14", "aroon_osc_14"], lambda d: aroon(d, 14)),
    ("donchian", "donchian", ["donchian_upper_20", "donchian_middle_20", "donchian_lower_20"],
     lambda d: donchian(d, 20)),
    ("keltner", "keltner", ["keltner_upper_20_10_2", "keltner_middle_20_10_2", "keltner_lower_20_10_2"],
     lambda d: keltner(d, 20, 10, 2.0)),
    ("vwap_20", "vwap", ["vwap_20"], lambda d: vwap(d, 20)),
    ("vwap_cumulative", "vwap:period=0", ["vwap_0"], lambda d: vwap(d, 0)),
    ("bb_width", "bbw", ["bb_width_20_2"], lambda d: bb_width(d["close"], 20, 2.0)),
    ("volume_ratio", "volumeratio", ["volume_ratio_20"],
     lambda d: [nan_div(d["volume"], d["volume"].rolling(20).mean())]),
    ("distance_from_ma", "distancefromma", ["distance_from_ma_20"],
     lambda d: [100 * nan_div(d["close"] - d["close"].rolling(20).mean(), d["close"].rolling(20).mean())]),
    ("cmf", "cmf", ["cmf_21"], lambda d: cmf(d, 21)),
    ("supertrend", "supertrend", ["supertrend_10_3", "supertrend_direction_10_3"],
     lambda d: supertrend(d, 10, 3.0)),
    ("ad_line", "adline", ["ad_line", "ad_line_sma_21"], lambda d: ad_line(d, 21)),
    ("psar", "psar", ["psar_0.02_0.02_0.2"], lambda d: parabolic_sar(d, 0.02, 0.02, 0.2)),
    ("rvi", "rvi", ["rvi_10", "rvi_signal_10_4"], lambda d: rvi(d, 10, 4)),
    ("fisher", "fisher", ["fisher_10_3", "fisher_signal_10_3"], lambda d: fisher(d, 10, 3)),
    ("ichimoku", "ichimoku",
     ["ichimoku_tenkan_9", "ichimoku_kijun_26", "ichimoku_senkou_a_9_26_26", "ichimoku_senkou_b_52_26"],
     lambda d: ichimoku(d, 9, 26, 52, 26)),
    ("squeeze", "squeeze", ["squeeze_intensity_20_2_20_2"],
     lambda d: squeeze_intensity(d, 20, 2.0, 20, 2.0), 1e-10),
]

LABEL_CASES = [("labels_0.03", 0.03, None), ("labels_0.03_20", 0.03, 20), ("labels_0.01_5", 0.01, 5)]


def write_reference():
    df = load_bars()
    with open(os.path.join(HERE, "cases.csv"), "w") as manifest:
        manifest.write("file;spec;abs_tolerance\n")
        for stem, spec, names, fn, *tolerance in CASES:
            cols = fn(df)
            assert len(cols) == len(names)
            out = pd.DataFrame({n: c.to_numpy() for n, c in zip(names, cols)})
            out.to_csv(os.path.join(HERE, f"{stem}.csv"), index=False, float_format="%.17g", na_rep="NaN")
            manifest.write(f"{stem}.csv;{spec};{tolerance[0] if tolerance else ''}\n")
    close = df["close"].to_numpy()
    for stem, t, lookahead in LABEL_CASES:
        labels = zigzag_labels(close, t, lookahead)
        pd.DataFrame({"label": labels}).to_csv(os.path.join(HERE, f"{stem}.csv"), index=False)
    print(f"wrote {len(CASES)} indicator and {len(LABEL_CASES)} label references from rows "
          f"{FIRST_ROW}..{END_ROW} of {os.path.normpath(IB_FILE)}")


# --- the benchmark -------------------------------------------------------------------------

def synthetic_bars(n):
    """The same 1-minute bars as benches/indicators.rs builds (a hashed-sine random walk)."""
    i = np.arange(n, dtype=np.float64)

    def noise(k):
        v = np.sin(i * 12.9898 + k * 78.233) * 43758.5453
        return v - np.floor(v) - 0.5

    close = 100.0 + 0.05 * np.cumsum(noise(0.0)) + 2.0 * np.sin(i / 300.0)
    open_ = np.concatenate(([close[0]], close[:-1]))
    high = np.maximum(open_, close) + 0.05 * np.abs(noise(1.0))
    low = np.minimum(open_, close) - 0.05 * np.abs(noise(2.0))
    volume = 1000.0 + 1000.0 * (noise(3.0) + 0.5)
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume})


def rsi_python_class(x: pd.Series, n: int) -> pd.Series:
    """RSI the way the Python class computes it: a Python loop over the bars on Series values."""
    delta = x.diff()
    gain = delta.where(delta > 0, 0.0)
    loss = -delta.where(delta < 0, 0.0)
    avg_gain = [np.nan] * len(x)
    avg_loss = [np.nan] * len(x)
    avg_gain[n] = gain.iloc[1:n + 1].mean()
    avg_loss[n] = loss.iloc[1:n + 1].mean()
    for i in range(n + 1, len(x)):
        avg_gain[i] = (avg_gain[i - 1] * (n - 1) + gain.iloc[i]) / n
        avg_loss[i] = (avg_loss[i - 1] * (n - 1) + loss.iloc[i]) / n
    rs = pd.Series(avg_gain) / pd.Series(avg_loss)
    return 100 - 100 / (1 + rs)


BENCH = [
    ("RSI(14)", lambda d: rsi_python_class(d["close"], 14)),
    ("SMA(20)", lambda d: d["close"].rolling(20).mean()),
    ("EMA(20)", lambda d: d["close"].ewm(span=20, adjust=True).mean()),
    ("MACD(12,26,9)", lambda d: macd(d["close"], 12, 26, 9)),
    ("BollingerBands(20,2)", lambda d: bollinger(d["close"], 20, 2.0)),
    ("ATR(14)", lambda d: atr(d, 14)),
    ("Stochastic(14,3,3)", lambda d: stochastic(d, 14, 3, 3)),
    ("ADX(14)", lambda d: adx(d, 14)),
]


def bench(n, runs, only):
    df = synthetic_bars(n)
    print(f"pandas {pd.__version__}, numpy {np.__version__}, Python {sys.version.split()[0]}; "
          f"{n:,} bars, median of {runs}")
    for name, fn in BENCH:
        if only and not re.search(only, name):
            continue
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            fn(df)
            times.append(time.perf_counter() - start)
        print(f"{name:<22} {statistics.median(times) * 1e3:10.1f} ms")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", action="store_true", help="time the Python-style versions instead")
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", help="time only the indicators whose name matches this regex")
    args = ap.parse_args()
    if args.bench:
        bench(args.bars, args.runs, args.only)
    else:
        write_reference()


if __name__ == "__main__":
    main()
