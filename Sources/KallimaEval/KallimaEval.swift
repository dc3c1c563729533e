// KallimaEval: generator metrics.
