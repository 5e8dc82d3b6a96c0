import Foundation

/// Removes a test's temporary directory and everything in it.
func removeTree(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}
