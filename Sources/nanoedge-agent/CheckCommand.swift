import Agent
import Hardware

#if canImport(Glibc)
import Glibc
#endif

/// `--check`: the board from `--board`, or the one the config names. Exit 0 when every probe passed.
func runBoardCheck(board: String?, boardsDirectory: String?, configPath: String?) -> Int32 {
    let profile: BoardProfile
    do {
        if let board {
            let paths = (boardsDirectory.map { [$0] } ?? []) + BoardProfile.standardSearchPaths + ["boards"]
                + executableBoardPaths()
            profile = try BoardProfile.load(name: board, searchPaths: paths)
        } else if let configPath {
            profile = try AgentConfig.load(path: configPath).board
        } else {
            fail("--check needs --board NAME or --config FILE")
        }
    } catch {
        fail("\(error)", code: 1)
    }
    let (text, ok) = BoardCheck.report(BoardCheck(profile: profile).run())
    print(text, terminator: "")
    return ok ? 0 : 1
}

/// `boards/` next to the binary and one level up, so a build tree or an unpacked release works too.
private func executableBoardPaths() -> [String] {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard count > 0 else { return [] }
    let exe = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    guard let slash = exe.lastIndex(of: "/") else { return [] }
    let dir = String(exe[..<slash])
    return [dir + "/boards", dir + "/../boards", dir + "/../../boards", dir + "/../share/nanoedge/boards"]
}
