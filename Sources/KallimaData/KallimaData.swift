// KallimaData: image and dataset I/O.
