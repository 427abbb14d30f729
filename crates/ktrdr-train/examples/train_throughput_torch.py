"""PyTorch peer of train_throughput.rs: the same network, data shape, optimizer and measure.

27 inputs + a 16-wide symbol embedding -> 50 -> 25 -> 3, ReLU, dropout 0.2, Adam (weight decay
1e-4), cross-entropy, batch 32 (shuffled DataLoader, as the Python system's one-symbol path),
100,000 random samples; samples/s of the median of 3 epochs.

    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch
    /tmp/torchvenv/bin/python crates/ktrdr-train/examples/train_throughput_torch.py [--threads 1]
"""

import argparse
import statistics
import time

import torch
from torch import nn

INPUTS, SYMBOLS, EMB = 27, 4, 16


class MultiSymbolMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.symbol_embedding = nn.Embedding(SYMBOLS, EMB)
        self.mlp = nn.Sequential(
            nn.Linear(INPUTS + EMB, 50), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(50, 25), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(25, 3),
        )

    def forward(self, x, s):
        return self.mlp(torch.cat([x, self.symbol_embedding(s)], dim=1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--samples", type=int, default=100_000)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    x = torch.rand(a.samples, INPUTS)
    s = torch.randint(0, SYMBOLS, (a.samples,))
    y = torch.randint(0, 3, (a.samples,))
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, s, y), batch_size=a.batch, shuffle=True
    )
    model = MultiSymbolMLP()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    times = []
    for _ in range(3):
        model.train()
        t = time.perf_counter()
        for xb, sb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(model(xb, sb), yb)
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t)
    m = torch.rand(2048, 2048)
    m @ m
    mm = []
    for _ in range(5):
        t = time.perf_counter()
        m @ m
        mm.append(time.perf_counter() - t)
    print(f"torch {torch.__version__}, threads {a.threads}, batch {a.batch}")
    print(f"epochs {[round(t, 3) for t in times]} s")
    print(f"training: {a.samples / statistics.median(times):.0f} samples/s (median of 3 epochs)")
    print(f"fp32 matmul 2048²: {2 * 2048**3 / statistics.median(mm) / 1e9:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
