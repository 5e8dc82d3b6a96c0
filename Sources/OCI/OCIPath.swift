/// A path inside an image or a rootfs, checked: relative, without `..`, as components.
///
/// "./usr/bin/" and "usr//bin" give ["usr", "bin"]. An absolute path or any `..` component is
/// refused rather than cleaned, because a layer that holds one was not made by an honest tool.
///
/// Splitting and comparing work on UTF-8 bytes, as the kernel does: a `/` that a combining or
/// prepend scalar merges into one `Character` is still a separator.
public struct OCIPath: Sendable, Hashable, CustomStringConvertible {
    public let components: [String]

    public init(_ text: String) throws(OCIError) {
        if text.utf8.first == UInt8(ascii: "/") {
            throw OCIError(.unsafePath, "entry \"\(text)\" has an absolute path; refusing it: layer entries must be "
                               + "relative to the rootfs (the image is malformed or hostile)")
        }
        if text.utf8.contains(0) { throw OCIError(.unsafePath, "entry \"\(text)\" contains a NUL byte") }
        var parts: [String] = []
        for part in OCIPath.split(text) {
            if part.elementsEqual(".".utf8) { continue }
            if part.elementsEqual("..".utf8) {
                throw OCIError(.unsafePath, "entry \"\(text)\" climbs out with \"..\"; "
                                   + "refusing to write outside the rootfs (the image is malformed or hostile)")
            }
            parts.append(String(decoding: part, as: UTF8.self))
        }
        components = parts
    }

    init(components: [String]) { self.components = components }

    /// The non-empty runs of bytes between `/` bytes.
    static func split(_ text: String) -> [ArraySlice<UInt8>] {
        Array(text.utf8).split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true)
    }

    /// Whether the kernel reads `text` as absolute.
    static func isAbsolute(_ text: String) -> Bool { text.utf8.first == UInt8(ascii: "/") }

    public var joined: String { components.joined(separator: "/") }
    public var description: String { "/" + joined }
    public var isRoot: Bool { components.isEmpty }
}
