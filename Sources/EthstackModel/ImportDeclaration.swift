/// One entry of a stack's `import:` list: an object that exists already and that the resource at
/// `to` adopts, planned and applied like any change (`ethstack plan` shows it "to import").
///
/// ```yaml
/// import:
///   - to: vpc
///     id: vpc-0a1b2c3d
///   - to: subnet[each.key]          # or 'subnet["${each.key}"]'
///     for_each: { a: subnet-11, b: subnet-22 }
///     id: "${each.value}"
/// ```
public struct ImportDeclaration: Sendable {
    public var location: SourceLocation
    /// The resource (declaration) name in `to`.
    public var resource: String
    public var resourceLocation: SourceLocation
    /// The instance key in `to`, when there is one: a literal (`"a"`, `0`) or an expression
    /// (`each.key`), evaluated per element of `for_each`.
    public var key: ConfigNode?
    /// The id the provider knows the object by.
    public var id: ConfigNode
    public var forEach: ConfigNode?

    /// All references in the entry.
    public var references: [Reference] {
        var refs = id.references
        if let key { refs += key.references }
        if let forEach { refs += forEach.references }
        return refs
    }

    package init(location: SourceLocation, resource: String, resourceLocation: SourceLocation, key: ConfigNode?,
                 id: ConfigNode, forEach: ConfigNode?) {
        self.location = location
        self.resource = resource
        self.resourceLocation = resourceLocation
        self.key = key
        self.id = id
        self.forEach = forEach
    }
}
