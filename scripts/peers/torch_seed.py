"""The seed workload in PyTorch: Linear(784, 512), ReLU, Linear(512, 10), cross-entropy on the
logits (softmax folded into the loss, as PyTorch users write it), Adam (lr 1e-3), batch 128, a
fresh permutation per epoch, test accuracy after each epoch.

    python torch_seed.py MNIST_DIR THREADS EPOCHS

Prints one JSON line per epoch: the training loop's seconds and samples/s, and the test accuracy.
"""
import json
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn as nn

mnist_dir, threads, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def idx(name, offset):
    with open(os.path.join(mnist_dir, name), 'rb') as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


x_train = torch.tensor(idx('train-images-idx3-ubyte', 16).reshape(-1, 784).astype(np.float32) / 255)
y_train = torch.tensor(idx('train-labels-idx1-ubyte', 8).astype(np.int64))
x_test = torch.tensor(idx('t10k-images-idx3-ubyte', 16).reshape(-1, 784).astype(np.float32) / 255)
y_test = torch.tensor(idx('t10k-labels-idx1-ubyte', 8).astype(np.int64))
torch.set_num_threads(threads)
torch.manual_seed(42)
model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()
n = len(x_train)
for epoch in range(epochs):
    perm = torch.randperm(n)
    t0 = time.perf_counter()
    for i in range(0, n, 128):
        rows = perm[i:i + 128]
        opt.zero_grad()
        loss_fn(model(x_train[rows]), y_train[rows]).backward()
        opt.step()
    train_s = time.perf_counter() - t0
    with torch.no_grad():
        acc = (model(x_test).argmax(1) == y_test).float().mean().item()
    print(json.dumps({'peer': 'torch', 'threads': threads, 'epoch': epoch + 1, 'trainSeconds': train_s, 'samplesPerSec': n / train_s,
                      'valAcc': acc, 'version': torch.__version__, 'peakRssMb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)
