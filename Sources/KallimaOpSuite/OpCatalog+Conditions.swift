import KallimaCore

extension OpCatalog {
  // MARK: Conditions of conditional GANs

  /// `mismatch_rows` over x [n, d] made by `initial`, described by `label` (what kind of rows).
  /// Exact: the op copies rows (or writes zeros), so both backends must agree to the bit.
  public static func mismatchRows(n: Int, d: Int, _ initial: TensorInit, _ label: String) -> OpCase {
    OpCase(
      "mismatch_rows", "x[\(n), \(d)] \(label)", tensors: [.init("x", [n, d], initial), .init("y", [n, d], .output)],
      exact: true
    ) { be, t in try be.mismatch_rows(x: t["x"]!, y: t["y"]!) }
  }

  /// Batches of 1, 2, 7 and around the 32-row edge, rows of 1, 3, 5, 10 and 33: distinct rows
  /// (normal), one-hot rows of 3 classes (equal neighbours: shifts past 1 needed), multi-hot
  /// rows over 5 tags, single values of 3 levels, and uniform batches (all zeros out).
  static func conditionParityCases() -> [OpCase] {
    var cases: [OpCase] = []
    for n in [1, 2, 7, 31, 32, 33, 65] {
      for d in [1, 10, 33] { cases.append(mismatchRows(n: n, d: d, .normal(1), "distinct")) }
      for d in [3, 10, 33] { cases.append(mismatchRows(n: n, d: d, .oneHot(classes: 3), "one-hot of 3")) }
      cases.append(mismatchRows(n: n, d: 5, .levels(2), "multi-hot of 5"))
      cases.append(mismatchRows(n: n, d: 1, .levels(3), "3 levels"))
      for d in [1, 10] { cases.append(mismatchRows(n: n, d: d, .constant(0.5), "uniform")) }
    }
    return cases
  }
}
