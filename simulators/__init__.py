"""Movement, GPS-error and network models that produce recorded streams with ground truth."""
