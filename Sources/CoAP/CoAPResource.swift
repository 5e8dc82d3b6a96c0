import CCoAP

#if canImport(Glibc)
import Glibc
#endif

/// A server resource. Its handler runs on the context's reactor thread.
public final class CoAPResource {
    public let path: String
    let handler: (CoAPRequest) -> CoAPResponse
    private(set) var raw: OpaquePointer?
    private unowned let context: CoAPContext
    /// The query of the request being answered: libcoap keys its cache of block-wise bodies by it.
    private var rawQuery: UnsafePointer<coap_string_t>?

    init(context: CoAPContext, path: String, methods: [CoAPMethod], attributes: [(String, String)],
         observable: Bool, handler: @escaping (CoAPRequest) -> CoAPResponse) {
        self.context = context
        self.path = path
        self.handler = handler
        let uri = Array(path.utf8)
        let rawURI = uri.withUnsafeBufferPointer { coap_new_str_const($0.baseAddress, $0.count) }
        let resource = coap_resource_init(rawURI, Int32(COAP_RESOURCE_FLAGS_RELEASE_URI))!
        raw = resource
        coap_resource_set_userdata(resource, Unmanaged.passUnretained(self).toOpaque())
        for method in methods {
            coap_register_handler(resource, coap_request_t(rawValue: UInt32(method.rawValue)), coapMethodHandler)
        }
        for (name, value) in attributes {
            let n = Array(name.utf8).withUnsafeBufferPointer { coap_new_str_const($0.baseAddress, $0.count) }
            let v = Array(value.utf8).withUnsafeBufferPointer { coap_new_str_const($0.baseAddress, $0.count) }
            coap_add_attr(resource, n, v, Int32(COAP_ATTR_FLAGS_RELEASE_NAME | COAP_ATTR_FLAGS_RELEASE_VALUE))
        }
        if observable { coap_resource_set_get_observable(resource, 1) }
        coap_add_resource(context.raw, resource)
    }

    /// Sends every observer a fresh representation (the GET handler runs once per observer).
    public func notifyObservers() {
        guard let raw else { return }
        coap_resource_notify_observers(raw, nil)
    }

    /// `contextRaw` is passed in because this also runs from the context's deinit, where the unowned
    /// reference can no longer be read.
    func detach(contextRaw: OpaquePointer) {
        guard let raw else { return }
        coap_resource_set_userdata(raw, nil)
        coap_delete_resource(contextRaw, raw)
        self.raw = nil
    }

    fileprivate func handle(session: OpaquePointer?, request: OpaquePointer, query: String,
                            rawQuery: UnsafePointer<coap_string_t>?, response: OpaquePointer) {
        self.rawQuery = rawQuery
        defer { self.rawQuery = nil }
        let method = CoAPMethod(rawValue: UInt8(truncatingIfNeeded: coap_pdu_get_code(request).rawValue)) ?? .get
        var swiftRequest = CoAPRequest(method, path, query: query)
        var length = 0
        var data: UnsafePointer<UInt8>?
        var offset = 0
        var total = 0
        if coap_get_data_large(request, &length, &data, &offset, &total) != 0, let data {
            if total > context.maxRequestBodyBytes {
                reply(response, request: request, session: session,
                      CoAPResponse(.requestEntityTooLarge,
                                   text: "body of \(total) bytes is over the limit of \(context.maxRequestBodyBytes)"))
                return
            }
            guard offset == 0, length == total else {
                reply(response, request: request, session: session,
                      CoAPResponse(.requestEntityIncomplete, text: "incomplete block-wise body"))
                return
            }
            swiftRequest.payload = Array(UnsafeBufferPointer(start: data, count: length))
        }
        var value: UInt32 = 0
        if nanoedge_coap_uint_option(request, UInt16(COAP_OPTION_CONTENT_FORMAT), &value) != 0 {
            swiftRequest.contentFormat = UInt16(truncatingIfNeeded: value)
        }
        if nanoedge_coap_uint_option(request, UInt16(COAP_OPTION_OBSERVE), &value) != 0 {
            swiftRequest.isObserve = value == 0
        }
        swiftRequest.confirmable = coap_pdu_get_type(request) == COAP_MESSAGE_CON
        if let session, let identity = coap_session_get_psk_identity(session), let bytes = identity.pointee.s {
            swiftRequest.identity = String(decoding: UnsafeBufferPointer(start: bytes, count: identity.pointee.length),
                                           as: UTF8.self)
        }
        reply(response, request: request, session: session, handler(swiftRequest))
    }

    private func reply(_ pdu: OpaquePointer, request: OpaquePointer, session: OpaquePointer?,
                       _ response: CoAPResponse) {
        coap_pdu_set_code(pdu, coap_pdu_code_t(rawValue: UInt32(response.code.rawValue)))
        guard !response.payload.isEmpty, let raw, let session else { return }
        // libcoap keeps the body until the last block went out, then calls release.
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: response.payload.count)
        response.payload.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress!, count: $0.count) }
        _ = coap_add_data_large_response(raw, session, request, pdu, rawQuery,
                                         response.contentFormat ?? ContentFormat.json,
                                         response.maxAge.map { Int32(clamping: $0) } ?? -1, 0,
                                         response.payload.count, buffer, releaseBuffer, buffer)
    }
}

let releaseBuffer: coap_release_large_data_t = { _, pointer in
    pointer?.assumingMemoryBound(to: UInt8.self).deallocate()
}

private let coapMethodHandler: coap_method_handler_t = { resource, session, request, query, response in
    guard let resource, let request, let response,
          let userdata = coap_resource_get_userdata(resource) else { return }
    let owner = Unmanaged<CoAPResource>.fromOpaque(userdata).takeUnretainedValue()
    var queryText = ""
    if let query, let bytes = query.pointee.s {
        queryText = String(decoding: UnsafeBufferPointer(start: bytes, count: query.pointee.length), as: UTF8.self)
    }
    owner.handle(session: session, request: request, query: queryText, rawQuery: query, response: response)
}
