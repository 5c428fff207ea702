"""The evaluation's train/test split (src/tuning/split.h) as the non-learned references apply it to one store: which
of its faults and which of its windows are on the test side.
  fault_time: the store is cut where fault number ceil(f x n) begins (by onset): the later faults test;
  time:       the store's later 1 - f of its windows test (and the faults that begin there);
  all:        everything tests (a held-out store or system)."""
import math

import numpy as np


def test_faults(f, split, fraction):
    """Boolean mask over the store's faults (faults/begin_ns as the onset)."""
    begins = f["faults/begin_ns"][:]
    if split == "all":
        return np.ones(len(begins), bool)
    if split == "fault_time":
        order = np.argsort(begins, kind="stable")
        test = np.zeros(len(begins), bool)
        test[order[math.ceil(fraction * len(order)):]] = True
        return test
    windows = np.sort(f["windows/begin_ns"][:])
    return begins >= windows[int(fraction * len(windows))]


def test_windows(f, split, fraction):
    """Boolean mask over the store's windows (a fault's onset as its first window's begin, as split.cpp reads it)."""
    begin = f["windows/begin_ns"][:]
    if split == "all":
        return np.ones(len(begin), bool)
    if split == "time":
        return begin >= np.sort(begin)[int(fraction * len(begin))]
    fault = f["windows/fault"][:]
    onsets = sorted(begin[fault == k].min() for k in np.unique(fault[fault >= 0]))
    k = math.ceil(fraction * len(onsets))
    return begin >= onsets[k] if k < len(onsets) else np.zeros(len(begin), bool)


def add_arguments(parser, splits):
    """The command line the references over several stores share: <split> <train_fraction> <out.json> <store.h5>..."""
    parser.add_argument("split", choices=splits)
    parser.add_argument("train_fraction", type=float)
    parser.add_argument("out")
    parser.add_argument("stores", nargs="+")
