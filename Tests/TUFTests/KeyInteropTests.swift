import CryptoEVP
import Foundation
import JSON
import Testing
import TUF

@Suite(.serialized) struct CanonicalJSONInteropTests {
    @Test func ourCanonicalBytesEqualSecuresystemslibs() throws {
        let documents: [String] = [
            #"{"b":1,"a":[true,false,null],"c":{"z":"","y":-9223372036854775808}}"#,
            #"{"é":"ü","e":"\u0001\t\n\"\\/","~":"\u2028","A":{}}"#,
            #"["\ud83d\ude00",0,-1,9223372036854775807,[],[[]],""]"#,
            #"{"keytype":"ed25519","scheme":"ed25519","keyval":{"public":"ab"}}"#,
            #"{"aa":1,"a":2,"ab":3,"b":4,"B":5,"_type":"root","\u007f":6,"\u0080":7}"#,
        ]
        let result = try python(["canonical"], input: "[" + documents.joined(separator: ",") + "]")
        #expect(result.status == 0, "\(result.output)")
        let expected = try #require(result.json?.arrayValue).map { $0.stringValue ?? "" }
        #expect(expected.count == documents.count)
        for (document, pythonHex) in zip(documents, expected) {
            let ours = try JSON.parseCanonicalizable(Array(document.utf8)).canonicalBytes()
            #expect(Hex.encode(ours) == pythonHex, "\(document)")
        }
    }
}

@Suite(.serialized) struct KeyInteropTests {
    @Test(arguments: KeyAlgorithm.allCases)
    func pythonVerifiesOurSignaturesAndComputesOurKeyID(algorithm: KeyAlgorithm) throws {
        let key = try SigningKey.generate(algorithm)
        let tufKey = try TUFKey(key.publicKey)
        let payload = Array(#"{"_type":"targets","version":1}"#.utf8)
        let signature = Hex.encode(try key.sign(payload))
        #expect(tufKey.verify(signatureHex: signature, payload: payload))

        func ask(_ sig: String, _ data: [UInt8]) throws -> (ok: Bool, keyID: String) {
            let request: JSON = ["key": tufKey.json, "keyid": .string(tufKey.keyID),
                                 "payload_hex": .string(Hex.encode(data)), "sig": .string(sig)]
            let result = try python(["verify-signature"], input: request.serialized())
            #expect(result.status == 0, "\(result.output)")
            return (result.json?["ok"]?.boolValue ?? false, result.json?["keyid"]?.stringValue ?? "")
        }
        let good = try ask(signature, payload)
        #expect(good.ok)
        #expect(good.keyID == tufKey.keyID)
        // A signature over other bytes does not verify on either side.
        #expect(try !ask(signature, payload + [0x20]).ok)
        #expect(!tufKey.verify(signatureHex: signature, payload: payload + [0x20]))
    }

    @Test(arguments: KeyAlgorithm.allCases)
    func weVerifyPythonSignaturesAndReadPythonKeys(algorithm: KeyAlgorithm) throws {
        let payload = Array("nanoedge release".utf8)
        let result = try python(["sign", algorithm.rawValue], input: Hex.encode(payload))
        #expect(result.status == 0, "\(result.output)")
        let json = try #require(result.json)
        let key = try TUFKey(json: try #require(json["key"]))
        #expect(key.algorithm == algorithm)
        #expect(key.keyID == json["keyid"]?.stringValue)
        let signature = try #require(json["sig"]?.stringValue)
        #expect(key.verify(signatureHex: signature, payload: payload))
        #expect(!key.verify(signatureHex: signature, payload: Array("nanoedge releasf".utf8)))

        // The private key python wrote loads here and describes the very same public key.
        let privateKey = try SigningKey(pem: try #require(json["private_pem"]?.stringValue))
        let ours = try TUFKey(privateKey.publicKey)
        #expect(ours == key)
        #expect(try ours.json.canonicalBytes() == key.json.canonicalBytes())
    }
}

@Suite struct SigningKeyTests {
    @Test(arguments: KeyAlgorithm.allCases)
    func keyFilesAreModeSixHundredAndNeedTheirPassphrase(algorithm: KeyAlgorithm) throws {
        let directory = temporaryDirectory("keys")
        defer { removeTree(directory) }
        let key = try SigningKey.generate(algorithm)
        let path = directory + "/key.pem"
        try key.write(toFile: path, passphrase: "correct horse")
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
        let text = String(decoding: try #require(readBytes(path)), as: UTF8.self)
        #expect(text.hasPrefix("-----BEGIN ENCRYPTED PRIVATE KEY-----"))

        let loaded = try SigningKey.load(fromFile: path, passphrase: "correct horse")
        #expect(try TUFKey(loaded.publicKey) == TUFKey(key.publicKey))
        #expect(throws: CryptoError.self) { try SigningKey.load(fromFile: path, passphrase: "wrong") }
        do {
            _ = try SigningKey.load(fromFile: path)
            Issue.record("an encrypted key loaded without its passphrase")
        } catch {
            #expect(error.code == .passphrase)
        }
        // A key file is never replaced.
        do {
            try key.write(toFile: path)
            Issue.record("an existing key file was overwritten")
        } catch {
            #expect(error.code == .io)
            #expect(error.message.contains("move the old one aside"))
        }
    }

    @Test func unencryptedKeysArePKCS8() throws {
        let key = try SigningKey.generate(.ecdsa)
        let pem = try key.pem()
        #expect(pem.hasPrefix("-----BEGIN PRIVATE KEY-----"))
        #expect(try TUFKey(SigningKey(pem: pem).publicKey) == TUFKey(key.publicKey))
    }

    @Test func publicKeyEncodingsFollowSecuresystemslib() throws {
        let ed = try TUFKey(SigningKey.generate(.ed25519).publicKey)
        #expect(ed.keyType == "ed25519" && ed.scheme == "ed25519")
        #expect(ed.keyval["public"]?.stringValue?.utf8.count == 64)
        let ec = try TUFKey(SigningKey.generate(.ecdsa).publicKey)
        #expect(ec.scheme == "ecdsa-sha2-nistp256")
        #expect(ec.keyval["public"]?.stringValue?.hasPrefix("-----BEGIN PUBLIC KEY-----\n") == true)
        #expect(ec.keyval["public"]?.stringValue?.hasSuffix("-----END PUBLIC KEY-----\n") == true)
        let rsa = try TUFKey(SigningKey.generate(.rsa).publicKey)
        #expect(rsa.keyType == "rsa" && rsa.scheme == "rsassa-pss-sha256")
    }

    @Test func malformedKeysAreRefused() {
        #expect(throws: CryptoError.self) { try PublicKey(ed25519Raw: [1, 2, 3]) }
        #expect(throws: CryptoError.self) { try PublicKey(pem: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", algorithm: .ecdsa) }
        #expect(throws: CryptoError.self) { try SigningKey(pem: "not a key") }
        let unsupported = TUFKey(keyType: "rsa", scheme: "rsa-pkcs1v15-sha256", keyval: ["public": "x"])
        #expect(!unsupported.verify(signatureHex: "00", payload: []))
    }
}
