"""Handwritten digits for training small CNNs; nothing is ever downloaded.

scikit-learn ships a copy of the UCI "Optical Recognition of Handwritten
Digits" data set (Alpaydin & Kaynak 1998): 1,797 grayscale images of 8x8
pixels, the digits 0 to 9 in about equal numbers. They are small enough
that even the pure-Python backend can run a CNN on them.
"""
from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

# Pixels in scikit-learn's copy are counts of set pixels in 4x4 blocks of a 32x32 bitmap: 0 to 16.
MAX_PIXEL = 16.0


def load_digits_images(dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits as images.

    Returns
    -------
    x : ndarray, shape (N, 1, 8, 8)
        Pixel intensities scaled to [0, 1], one channel, of the given float dtype.
    y : ndarray of int64, shape (N,)
        The digit each image shows, 0 to 9.
    """
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a floating-point type, got {dtype}")
    digits = load_digits()
    x = (digits.images / MAX_PIXEL).astype(dtype)[:, None, :, :]
    return x, digits.target.astype(np.int64)


def digits_split(test_size: float = 0.25, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A fixed, stratified train/test split of the digits, normalised with training statistics.

    Stratified means every digit makes up the same share of both parts as of
    the whole set. Pixels are shifted and scaled by one mean and one standard
    deviation computed on the training images only, so nothing about the
    test images leaks into training. The same ``seed`` always gives the same
    split.

    Returns
    -------
    x_train, y_train, x_test, y_test
        float32 images (N, 1, 8, 8) and int64 labels (N,).
    """
    x, y = load_digits_images(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_size, random_state=seed, stratify=y
    )
    mean, std = x_train.mean(), x_train.std()
    return (x_train - mean) / std, y_train, (x_test - mean) / std, y_test
