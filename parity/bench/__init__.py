"""Throughput: the driver and its worker, the one timing loop, inputs, two environments side by side."""
