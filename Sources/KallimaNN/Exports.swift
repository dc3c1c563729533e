// Layers are written in graph values (`Value`, `Shape`, `GraphOp`): a package that imports
// the layer library (or KallimaGAN, which re-exports it) can write its own layers at once.
@_exported import KallimaCore
@_exported import KallimaGraph
