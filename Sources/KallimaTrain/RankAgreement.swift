import KallimaCore

/// Stops a data-parallel job whose ranks no longer hold the same weights (`differing`: the
/// tensors a trainer's `ranksThatDiffer` named, checked at every log interval): ranks that
/// drifted apart would each train a model of their own.
func requireRanksAgree(_ differing: [String], at position: String) throws {
  guard !differing.isEmpty else { return }
  throw KallimaError.communication(
    "the ranks' weights differ at \(position) (\(differing.prefix(3).joined(separator: ", "))\(differing.count > 3 ? ", …" : "")): "
      + "a device computes differently from the others; run `kallima selftest` on each rank's device")
}
