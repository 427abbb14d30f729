"""Reference sessions 1980-1999 for XNYS and XNAS, from exchange_calendars 4.13.2.

Same format as ../../../../../shared/data/calendars/ (session,open_utc,close_utc; regular
sessions only). Run in a throwaway venv:

    python3 -m venv /tmp/xcal && /tmp/xcal/bin/pip install exchange_calendars==4.13.2
    /tmp/xcal/bin/python generate.py
"""

import pathlib

import exchange_calendars as xcals

FIRST, LAST = "1980-01-01", "1999-12-31"
HERE = pathlib.Path(__file__).parent


def utc(ts):
    return ts.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


for name in ("XNYS", "XNAS"):
    cal = xcals.get_calendar(name, start=FIRST, end=LAST)
    schedule = cal.schedule.loc[FIRST:LAST]
    with open(HERE / f"{name}_sessions_1980_1999.csv", "w", newline="\n") as out:
        out.write("session,open_utc,close_utc\n")
        for session, row in schedule.iterrows():
            out.write(f"{session.strftime('%Y-%m-%d')},{utc(row['open'])},{utc(row['close'])}\n")
    print(name, len(schedule), "sessions", xcals.__version__)
