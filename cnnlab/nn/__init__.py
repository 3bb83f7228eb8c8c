"""Networks: layers, the Sequential container and LeNet, and training."""
