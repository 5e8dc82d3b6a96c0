/// A path inside an image or a rootfs, checked: relative, without `..`, as components.
///
/// "./usr/bin/" and "usr//bin" give ["usr", "bin"]. An absolute path or any `..` component is
/// refused rather than cleaned, because a layer that holds one was not made by an honest tool.
public struct OCIPath: Sendable, Hashable, CustomStringConvertible {
    public let components: [String]

    public init(_ text: String) throws(OCIError) {
        if text.hasPrefix("/") {
            throw OCIError(.unsafePath, "entry \"\(text)\" has an absolute path; refusing it: layer entries must be "
                               + "relative to the rootfs (the image is malformed or hostile)")
        }
        var parts: [String] = []
        for part in text.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                throw OCIError(.unsafePath, "entry \"\(text)\" climbs out with \"..\"; "
                                   + "refusing to write outside the rootfs (the image is malformed or hostile)")
            }
            if part.utf8.contains(0) { throw OCIError(.unsafePath, "entry \"\(text)\" contains a NUL byte") }
            parts.append(String(part))
        }
        components = parts
    }

    init(components: [String]) { self.components = components }

    public var joined: String { components.joined(separator: "/") }
    public var description: String { "/" + joined }
    public var isRoot: Bool { components.isEmpty }
}
