import KallimaCore
import KallimaGraph

/// Layers applied in order, named by position as `nn.Sequential` names them ("0", "1", …),
/// so a network reads like the paper's table of layers and its state dict matches PyTorch:
///
///     let d = Sequential {
///       Conv2d(3, 64, kernelSize: 4, stride: 2, padding: 1, bias: false)
///       LeakyReLU(0.2)
///       for i in 0..<3 { … }
///     }.named("main")
///
/// Layers without parameters (activations) still take an index, exactly as in PyTorch.
public struct Sequential: Layer {
  public var layers: [any Layer]

  public init(_ layers: [any Layer]) { self.layers = layers }
  public init(@LayerBuilder _ body: () throws -> [any Layer]) rethrows { layers = try body() }

  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    var h = x
    for (i, layer) in layers.enumerated() { h = try layer(h, in: scope.child("\(i)")) }
    return h
  }
}

/// Layers applied in order in the parent's own scope: each names itself with `.named(_:)`,
/// as the attributes of a PyTorch module used one after another in its forward
/// (`self.l1`, `self.block2`, …), where `Sequential` would number them.
public struct Chain: Layer {
  public var layers: [any Layer]

  public init(_ layers: [any Layer]) { self.layers = layers }
  public init(@LayerBuilder _ body: () throws -> [any Layer]) rethrows { layers = try body() }

  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    var h = x
    for layer in layers { h = try layer(h, in: scope) }
    return h
  }
}

/// Collects layers for `Sequential` (and the other containers): plain statements, `if`,
/// `if`/`else`, `for` loops and nested arrays of layers.
@resultBuilder
public enum LayerBuilder {
  public static func buildExpression(_ layer: any Layer) -> [any Layer] { [layer] }
  public static func buildExpression(_ layers: [any Layer]) -> [any Layer] { layers }
  public static func buildBlock(_ parts: [any Layer]...) -> [any Layer] { parts.flatMap { $0 } }
  public static func buildOptional(_ part: [any Layer]?) -> [any Layer] { part ?? [] }
  public static func buildEither(first part: [any Layer]) -> [any Layer] { part }
  public static func buildEither(second part: [any Layer]) -> [any Layer] { part }
  public static func buildArray(_ parts: [[any Layer]]) -> [any Layer] { parts.flatMap { $0 } }
}

/// x + body(x), with an optional shortcut on the skip path (a 1x1 conv when the channel
/// count or resolution changes): CycleGAN's ResnetBlock (`conv_block`) and the residual
/// blocks of SNGAN/BigGAN. The body is built under `bodyName`, the shortcut under
/// `shortcutName`.
public struct Residual: Layer {
  public var body: Sequential
  public var shortcut: (any Layer)?
  public var bodyName: String
  public var shortcutName: String

  public init(
    bodyName: String = "conv_block", shortcut: (any Layer)? = nil, shortcutName: String = "shortcut",
    @LayerBuilder _ body: () throws -> [any Layer]
  ) rethrows {
    self.body = Sequential(try body())
    self.shortcut = shortcut
    self.bodyName = bodyName
    self.shortcutName = shortcutName
  }

  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    let skip = try shortcut.map { try $0(x, in: scope.child(shortcutName)) } ?? x
    let h = try body(x, in: scope.child(bodyName))
    return try scope.add(skip, h)
  }
}

/// concat(x, inner(x)) along channels: the skip connection of a U-Net level (pix2pix's
/// UnetSkipConnectionBlock, whose inner module is called `model`). The outermost level of
/// pix2pix's U-Net returns inner(x) alone: use the inner Sequential directly there.
public struct ConcatSkip: Layer {
  public var inner: Sequential
  public var innerName: String

  public init(innerName: String = "model", @LayerBuilder _ inner: () throws -> [any Layer]) rethrows {
    self.inner = Sequential(try inner())
    self.innerName = innerName
  }

  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    let h = try inner(x, in: scope.child(innerName))
    return try scope.value(.concat, [x, h], "concat")
  }
}

/// [N, C, H, W] -> [N, C·H·W] (a view), as `nn.Flatten()`.
public struct Flatten: Layer {
  public init() {}
  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    let s = scope.graph.shape(x)
    return try scope.value(.reshape([s[0], s.count / s[0]]), [x], "flatten")
  }
}

/// A view of each sample with another shape: [N, …] -> [N] + shape (e.g. a linear layer's
/// [N, 4·4·512] to [N, 512, 4, 4]).
public struct Unflatten: Layer {
  public var shape: Shape
  public init(_ shape: Shape) { self.shape = shape }
  public func callAsFunction(_ x: Value, in scope: Scope) throws -> Value {
    let n = scope.graph.shape(x)[0]
    return try scope.value(.reshape(Shape([n] + shape.dims)), [x], "unflatten")
  }
}
