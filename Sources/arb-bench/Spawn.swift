#if canImport(Glibc)
import Glibc
#endif

/// A child process's end: its exit status and its resource usage from `wait4`.
struct ChildExit {
    var exitCode: Int32?
    var signal: Int32?
    /// Peak resident set size in KiB (`ru_maxrss`; Linux reports kilobytes).
    var maxResidentKiB: Int
    var wallNanoseconds: UInt64

    var succeeded: Bool { exitCode == 0 }
}

/// How a child is started.
enum SpawnMethod {
    /// `posix_spawn`: glibc starts the child with `clone(CLONE_VM | CLONE_VFORK)`, so the child
    /// runs in *this* process's memory until it execs, and the kernel folds that memory's
    /// high-water mark into the child's `ru_maxrss`. Fine when the child's memory is not measured.
    case posixSpawn
    /// `fork` then `execve`: the child starts from a copy that holds only this process's
    /// anonymous pages, so its `ru_maxrss` is its own peak unless that is smaller than our
    /// anonymous RSS at the fork (reported beside it). Between fork and exec the child calls only
    /// async-signal-safe functions (`dup2`, `execve`, `_exit`) on memory prepared before the fork.
    case forkExec
}

/// Runs `arguments[0]` (an absolute path) with `arguments`, standard output and error written to
/// the given files, and waits for it with `wait4` to read its resource usage.
/// `environment` entries (`NAME=value`) are added to this process's environment.
func runChild(_ arguments: [String], stdoutPath: String, stderrPath: String, environment: [String] = [],
              method: SpawnMethod = .posixSpawn) throws -> ChildExit
{
    let argv = arguments.map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var inherited: [String] = []
    var cursor = environ
    while let entry = cursor.pointee {
        inherited.append(String(cString: entry))
        cursor += 1
    }
    let names = Set(environment.map { $0.prefix { $0 != "=" } })
    let envp = (inherited.filter { !names.contains($0.prefix { $0 != "=" }) } + environment).map { strdup($0) } + [nil]
    defer { envp.forEach { free($0) } }

    var pid: pid_t = 0
    let start = monotonicNanoseconds()
    switch method {
    case .posixSpawn:
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let rc = posix_spawn(&pid, arguments[0], &actions, nil, argv, envp)
        guard rc == 0 else { throw BenchError("cannot start \(arguments[0]): \(String(cString: strerror(rc)))") }
    case .forkExec:
        let input = open("/dev/null", O_RDONLY | O_CLOEXEC)
        let output = open(stdoutPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let error = open(stderrPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer { [input, output, error].forEach { close($0) } }
        guard input >= 0, output >= 0, error >= 0 else { throw BenchError("cannot open the child's output files") }
        pid = argv.withUnsafeBufferPointer { argvBuffer in
            envp.withUnsafeBufferPointer { envpBuffer in
                let child = fork()
                if child == 0 {
                    // dup2 clears FD_CLOEXEC on the new descriptor.
                    if dup2(input, 0) < 0 || dup2(output, 1) < 0 || dup2(error, 2) < 0 { _exit(126) }
                    execve(argvBuffer[0]!, argvBuffer.baseAddress!, envpBuffer.baseAddress!)
                    _exit(127)
                }
                return child
            }
        }
        guard pid > 0 else { throw BenchError("fork: \(String(cString: strerror(errno)))") }
    }
    var status: Int32 = 0
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) < 0 {
        guard errno == EINTR else { throw BenchError("wait4 \(arguments[0]): \(String(cString: strerror(errno)))") }
    }
    let elapsed = monotonicNanoseconds() - start
    // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift cannot import.
    let exited = status & 0x7F == 0
    return ChildExit(exitCode: exited ? (status >> 8) & 0xFF : nil, signal: exited ? nil : status & 0x7F,
                     maxResidentKiB: Int(usage.ru_maxrss), wallNanoseconds: elapsed)
}

/// A field of /proc/self/status in KiB (e.g. `RssAnon`), or nil.
func ownStatusKiB(_ field: String) -> Int? {
    for line in readTextFile("/proc/self/status").split(separator: "\n") where line.hasPrefix("\(field):") {
        return Int(line.dropFirst(field.count + 1).filter(\.isNumber))
    }
    return nil
}

/// The absolute path of this executable.
func executablePath() -> String {
    var buffer = [CChar](repeating: 0, count: 4_096)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard count > 0 else { return CommandLine.arguments[0] }
    return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// The first executable named `name` on `PATH`.
func findOnPath(_ name: String) -> String? {
    guard let path = getenv("PATH").map({ String(cString: $0) }) else { return nil }
    for directory in path.split(separator: ":") {
        let candidate = "\(directory)/\(name)"
        if access(candidate, X_OK) == 0 { return candidate }
    }
    return nil
}

func readTextFile(_ path: String) -> String {
    guard let file = fopen(path, "r") else { return "" }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = fread(&chunk, 1, chunk.count, file)
        if count <= 0 { break }
        bytes += chunk.prefix(count)
    }
    return String(decoding: bytes, as: UTF8.self)
}
