import Foundation
import KubeTestServer

// kube-test-server --port N [--with-standard-crds] [--no-controllers] [--no-default-storage-class] [--load-balancer-hostname HOST]
// Plain HTTP on 127.0.0.1; runs until killed. Prints "listening on http://127.0.0.1:PORT".
var options = KubeTestServer.Options()
var port = 0
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--port":
        guard let v = args.popFirst(), let p = Int(v), (0...65535).contains(p) else {
            FileHandle.standardError.write(Data("--port needs a number between 0 and 65535\n".utf8)); exit(2)
        }
        port = p
    case "--with-standard-crds": options.standardCRDs = true
    case "--no-controllers": options.simulateControllers = false
    case "--no-default-storage-class": options.defaultStorageClass = false
    case "--load-balancer-hostname":
        guard let v = args.popFirst(), !v.isEmpty else {
            FileHandle.standardError.write(Data("--load-balancer-hostname needs a hostname\n".utf8)); exit(2)
        }
        options.loadBalancerHostname = v
    case "-h", "--help":
        print("usage: kube-test-server --port N [--with-standard-crds] [--no-controllers] [--no-default-storage-class] [--load-balancer-hostname HOST]"); exit(0)
    default:
        FileHandle.standardError.write(Data("unknown argument: \(a)\n".utf8)); exit(2)
    }
}
let server = try await KubeTestServer.start(port: port, options: options)
FileHandle.standardOutput.write(Data("listening on \(server.url)\n".utf8))
while true { try await Task.sleep(for: .seconds(3600)) }
