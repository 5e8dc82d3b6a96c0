import JSON

/// Decodes `json` as `T` and checks that its JSON decodes to an equal value: what a parser accepts,
/// its writer must write back the same.
@discardableResult
public func roundTrip<T: Equatable>(_ json: JSON, _ decode: (JSON) throws(JSONError) -> T, _ encode: (T) -> JSON) -> T? {
    guard let value = try? decode(json) else { return nil }
    let written = encode(value)
    let again: T
    do {
        again = try decode(try JSON.parse(written.bytes(), limits: JSONLimits(maxBytes: 1 << 20)))
    } catch {
        preconditionFailure("\(T.self) written back does not decode: \(error)")
    }
    precondition(again == value, "\(T.self) changed in a round trip: \(written)")
    return value
}
