import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A temporary directory only this user can read (0700), for the files a CLI call needs and that
/// may hold secrets: a kubeconfig with a token, a Helm values file, Kurtosis args. Files are 0600.
/// Call `remove()` when the call is done (`defer { dir.remove() }`).
public final class PrivateDirectory: Sendable {
    public let path: String

    /// The directory's name carries the pid of the process that made it (`PREFIX-p<PID>-XXXXXX`):
    /// a directory whose process is gone (killed with SIGKILL before `remove()`) is removed by the
    /// next one made with the same prefix, so secrets do not outlive a killed run for long.
    public init(prefix: String = "ethstack") throws {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        Self.removeStale(base: base, prefix: prefix)
        var template = Array("\(base)/\(prefix)-p\(getpid())-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buf -> Bool in
            guard let base = buf.baseAddress else { return false }
            return mkdtemp(base) != nil
        }
        guard made else {
            throw SubprocessError(.failedToStart, command: prefix, message: "cannot create a private temporary directory in \(base): \(String(cString: strerror(errno)))")
        }
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        chmod(path, 0o700)
    }

    /// Writes `contents` to a new file `name` (mode 0600, created exclusively) and returns its path.
    @discardableResult
    public func write(_ name: String, _ contents: String) throws -> String {
        let file = "\(path)/\(name)"
        let fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_TRUNC, 0o600)
        guard fd >= 0 else {
            throw SubprocessError(.failedToStart, command: name, message: "cannot create \(file): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var bytes = Array(contents.utf8)
        let total = bytes.count
        var offset = 0
        while offset < total {
            let start = offset
            let n = bytes.withUnsafeMutableBytes { buf in
                systemWrite(fd, buf.baseAddress.map { $0 + start }, total - start)
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw SubprocessError(.failedToStart, command: name, message: "cannot write \(file): \(String(cString: strerror(errno)))")
            }
            offset += n
        }
        bytes.removeAll()
        return file
    }

    /// Replaces file `name` atomically: the new contents go to a fresh 0600 file that is renamed
    /// over the old one, so a reader sees either the old or the new contents, never a torn write.
    @discardableResult
    public func replace(_ name: String, _ contents: String) throws -> String {
        let staging = "\(name).new-\(UUID().uuidString)"
        let staged = try write(staging, contents)
        let file = "\(path)/\(name)"
        guard rename(staged, file) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(staged)
            throw SubprocessError(.failedToStart, command: name, message: "cannot replace \(file): \(reason)")
        }
        return file
    }

    /// Removes `PREFIX-p<PID>-*` directories of this user whose process no longer exists.
    static func removeStale(base: String, prefix: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: base) else { return }
        for name in names where name.hasPrefix("\(prefix)-p") {
            let rest = name.dropFirst(prefix.count + 2)
            guard let dash = rest.firstIndex(of: "-"), let pid = pid_t(rest[..<dash]), pid > 0, pid != getpid() else { continue }
            var info = stat()
            guard lstat("\(base)/\(name)", &info) == 0, info.st_uid == getuid(), (info.st_mode & S_IFMT) == S_IFDIR else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                try? FileManager.default.removeItem(atPath: "\(base)/\(name)")
            }
        }
    }

    /// Removes the directory and everything in it.
    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

private func systemWrite(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, buffer, count)
    #else
    return Darwin.write(fd, buffer, count)
    #endif
}
