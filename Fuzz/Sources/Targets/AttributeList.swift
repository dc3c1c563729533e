import KallimaData

extension FuzzTarget {
  /// CelebA's `list_attr_celeba.txt` (attributes for StarGAN): the file is parsed and, when
  /// accepted, its first and last attributes are selected as a loader would.
  static let attributeList = FuzzTarget(name: "attribute-list", fileExtension: "txt") { path in
    let list = try AttributeList.read(path)
    let columns = try list.columns(of: list.names.count == 1 ? list.names : [list.names[0], list.names.last!])
    for n in list.files.indices { for c in columns { _ = list.value(n, c) } }
  }
}
