import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A fake kube-apiserver for tests: plain HTTP on 127.0.0.1, objects kept in memory.
///
///     let server = try await KubeTestServer.start(port: 0)
///     defer { server.shutdown() }
///     // kubectl --server server.url ...
public final class KubeTestServer: Sendable {
    public struct Options: Sendable {
        /// Seconds between a namespace's DELETE (it turns Terminating) and its disappearance.
        public var namespaceDeletionDelay: Double = 0.1
        /// Seconds before a LoadBalancer Service gets `status.loadBalancer.ingress[0].hostname`.
        public var loadBalancerDelay: Double = 0.2
        /// The hostname every LoadBalancer Service gets; nil: `NAME-NS.lb.kube-test-server.local`.
        /// `127.0.0.1` lets a check reach a local stand-in listening on the Service's port.
        public var loadBalancerHostname: String? = nil
        /// Seconds before Deployments/StatefulSets/DaemonSets/ReplicaSets report ready and Pods Running.
        public var workloadReadyDelay: Double = 0.1
        /// Seconds before a PersistentVolumeClaim is Bound.
        public var volumeBindDelay: Double = 0.1
        /// Pre-install a default StorageClass `standard` (Immediate binding, reclaim policy Delete), as
        /// minikube and kind clusters have one; claims naming no class get it.
        public var defaultStorageClass: Bool = true
        /// Run the simulated controllers above at all.
        public var simulateControllers: Bool = true
        /// Pre-install the CRDs in `StandardCRDs.all` (ServiceMonitor, PrometheusRule, VolumeSnapshot…).
        public var standardCRDs: Bool = false
        /// How many events are kept for watches that start from an older resourceVersion.
        public var watchHistory: Int = 10_000
        /// Largest request body accepted.
        public var maxBodyBytes: Int = 32 << 20
        /// Seconds every answer (not a watch) is held back: a remote cluster's round trip, for benchmarks.
        public var responseDelay: Double = 0

        public init() {}
    }

    public let port: Int
    public var url: String { "http://127.0.0.1:\(port)" }
    let store: Store
    private let group: MultiThreadedEventLoopGroup
    private let channel: Channel
    private let connections: ConnectionSet

    private init(port: Int, store: Store, group: MultiThreadedEventLoopGroup, channel: Channel, connections: ConnectionSet) {
        self.port = port; self.store = store; self.group = group; self.channel = channel; self.connections = connections
    }

    /// Starts a server on 127.0.0.1:`port` (0 picks a free port; read it back from `.port`).
    public static func start(port: Int = 0, options: Options = Options()) async throws -> KubeTestServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let store = Store(options: options)
        let connections = ConnectionSet()
        let portBox = PortBox()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                connections.add(channel)
                return channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMap {
                    // Made and added on the channel's own event loop: the handler never leaves it.
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            HTTPHandler(store: store, port: portBox.port, maxBody: options.maxBodyBytes,
                                        responseDelay: options.responseDelay))
                    }
                }
            }
            .childChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
        do {
            let channel = try await bootstrap.bind(host: "127.0.0.1", port: port).get()
            let bound = channel.localAddress?.port ?? port
            portBox.port = bound
            return KubeTestServer(port: bound, store: store, group: group, channel: channel, connections: connections)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// Stops listening, ends every connection (and so every watch) and the simulated controllers.
    /// Returns at once; the event loops finish shutting down in the background.
    public func shutdown() {
        store.stop()
        channel.close(promise: nil)
        connections.closeAll()
        group.shutdownGracefully { _ in }
    }

    /// Like `shutdown()`, but waits until the event loops have stopped.
    public func stop() async {
        store.stop()
        try? await channel.close()
        connections.closeAll()
        try? await group.shutdownGracefully()
    }

    // MARK: test hooks

    private func resolve(_ group: String, _ resource: String) throws -> ResourceType {
        guard let t = store.allTypes().first(where: { $0.group == group && ($0.plural == resource || $0.kind == resource) }) else {
            throw APIError.resourceNotFound()
        }
        return t
    }

    /// One object (nil when absent). `resource` is the plural ("deployments") or the kind.
    /// How many watch requests are open right now.
    public var openWatches: Int { store.watcherCount }

    /// Requests answered so far (watches aside).
    public var requestCount: Int { store.answeredCount }

    /// The most requests (watches aside) that were being answered at the same time.
    public var peakConcurrentRequests: Int { store.peakInFlight }

    public func object(group: String = "", resource: String, namespace: String? = nil, name: String) -> KubeJSON? {
        guard let t = try? resolve(group, resource) else { return nil }
        return store.peek(t, namespace: t.namespaced ? namespace ?? "default" : nil, name: name)
    }

    /// All objects of a resource, in one namespace or (nil) all of them.
    public func objects(group: String = "", resource: String, namespace: String? = nil) -> [KubeJSON] {
        guard let t = try? resolve(group, resource) else { return [] }
        return store.list(t, namespace: namespace, labels: nil, fields: nil).items
    }

    /// Creates an object from its manifest (apiVersion/kind pick the resource), as `manager`.
    @discardableResult
    public func create(_ manifest: KubeJSON, manager: String = "kube-test-server") throws -> KubeJSON {
        guard let av = manifest["apiVersion"]?.stringValue, let kind = manifest["kind"]?.stringValue,
              let t = store.type(apiVersion: av, kind: kind) else { throw APIError.badRequest("unknown apiVersion/kind in manifest") }
        let ns = t.namespaced ? manifest.at("metadata.namespace")?.stringValue ?? "default" : nil
        return try store.create(t, namespace: ns, body: manifest, ctx: WriteContext(manager: manager))
    }

    /// Replaces `.status` through the status subresource, as a controller named `manager` would.
    @discardableResult
    public func setStatus(group: String = "", resource: String, namespace: String? = nil, name: String, status: KubeJSON,
                          manager: String = "kube-test-server-controller") throws -> KubeJSON {
        let t = try resolve(group, resource)
        return try store.setStatus(t, namespace: t.namespaced ? namespace ?? "default" : nil, name: name, status: status, manager: manager)
    }

    /// Edits a stored object in place (an Update by `manager`; resourceVersion and events follow).
    @discardableResult
    public func modify(group: String = "", resource: String, namespace: String? = nil, name: String,
                       manager: String = "kube-test-server", _ change: (inout KubeJSON) -> Void) throws -> KubeJSON {
        let t = try resolve(group, resource)
        return try store.mutate(t, namespace: t.namespaced ? namespace ?? "default" : nil, name: name, manager: manager, change)
    }

    /// Deletes an object (namespaces go Terminating first, as through the API).
    public func delete(group: String = "", resource: String, namespace: String? = nil, name: String) throws {
        let t = try resolve(group, resource)
        _ = try store.delete(t, namespace: t.namespaced ? namespace ?? "default" : nil, name: name, ctx: WriteContext(manager: "kube-test-server"))
    }

    /// Scripts what the simulated kubelet makes of pods whose name starts with `namePrefix`, in
    /// `namespace` or any: crash-looping, failed or unschedulable instead of Running. The latest
    /// script that matches wins; it applies to pods started from now on.
    public func scriptPods(namePrefix: String, namespace: String? = nil, _ outcome: PodOutcome) {
        store.lock.withLock { store.podScripts.append((namespace, namePrefix, outcome)) }
    }

    /// The current global resourceVersion.
    public var resourceVersion: Int64 { store.currentRV() }
}

final class PortBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    var port: Int {
        get { lock.withLock { value } }
        set { lock.withLock { value = newValue } }
    }
}

/// Open connections, so that shutdown can end them (and with them any watch in progress).
final class ConnectionSet: @unchecked Sendable {
    private let lock = NSLock()
    private var channels: [ObjectIdentifier: Channel] = [:]
    private var closed = false

    func add(_ c: Channel) {
        let id = ObjectIdentifier(c)
        let accepted = lock.withLock { () -> Bool in
            if closed { return false }
            channels[id] = c
            return true
        }
        if !accepted { c.close(promise: nil); return }
        c.closeFuture.whenComplete { [weak self] _ in self?.remove(id) }
    }

    private func remove(_ id: ObjectIdentifier) { lock.withLock { _ = channels.removeValue(forKey: id) } }

    func closeAll() {
        let all = lock.withLock { () -> [Channel] in closed = true; return Array(channels.values) }
        for c in all { c.close(promise: nil) }
    }
}

final class HTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let store: Store
    let port: Int
    let maxBody: Int
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    private var tooLarge = false
    private var watchID: Int?
    private var watchTimer: Scheduled<Void>?

    let responseDelay: Double

    init(store: Store, port: Int, maxBody: Int, responseDelay: Double = 0) {
        self.store = store; self.port = port; self.maxBody = maxBody; self.responseDelay = responseDelay
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body.clear()
            tooLarge = false
        case .body(var b):
            if body.readableBytes + b.readableBytes > maxBody { tooLarge = true } else { body.writeBuffer(&b) }
        case .end:
            guard let h = head else { return }
            head = nil
            if tooLarge {
                let e = APIError(code: 413, reason: "RequestEntityTooLarge", message: "the request body is too large", details: nil)
                respond(context: context, head: h, code: e.code, contentType: "application/json", data: e.status.data)
                return
            }
            var headers: [String: String] = [:]
            for (n, v) in h.headers { headers[n.lowercased()] = headers[n.lowercased()].map { $0 + "," + v } ?? v }
            let req = APIRequest(method: h.method.rawValue, uri: h.uri, headers: headers, body: Data(body.readableBytesView))
            body.clear()
            let router = Router(store: store, port: port)
            switch router.handle(req) {
            case .json(let code, let j):
                respond(context: context, head: h, code: code, contentType: "application/json", data: j.data)
            case .raw(let code, let ct, let d):
                respond(context: context, head: h, code: code, contentType: ct, data: d)
            case .watch(let t, let filter, let rv, let timeout):
                startWatch(context: context, head: h, type: t, filter: filter, rv: rv, timeout: timeout)
            }
        }
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead, code: Int, contentType: String, data: Data) {
        store.requestStarted()
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(data.count))
        headers.add(name: "Cache-Control", value: "no-cache, private")
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let responseHead = HTTPResponseHead(version: head.version, status: HTTPResponseStatus(statusCode: code), headers: headers)
        var buf = context.channel.allocator.buffer(capacity: data.count)
        buf.writeBytes(data)
        let channel = context.channel
        let store = self.store
        let send: @Sendable () -> Void = { [buf] in
            channel.write(HTTPServerResponsePart.head(responseHead), promise: nil)
            channel.write(HTTPServerResponsePart.body(.byteBuffer(buf)), promise: nil)
            channel.writeAndFlush(HTTPServerResponsePart.end(nil)).whenComplete { _ in
                store.requestFinished()
                if !keepAlive { channel.close(promise: nil) }
            }
        }
        if responseDelay > 0 {
            context.eventLoop.scheduleTask(in: .nanoseconds(Int64(responseDelay * 1e9))) { send() }
        } else {
            send()
        }
    }

    private func startWatch(context: ChannelHandlerContext, head: HTTPRequestHead, type: ResourceType, filter: WatchFilter,
                            rv: String?, timeout: Double) {
        let channel = context.channel
        let loop = context.eventLoop
        let sink: @Sendable (Data) -> Void = { data in
            loop.execute {
                guard channel.isActive else { return }
                var buf = channel.allocator.buffer(capacity: data.count)
                buf.writeBytes(data)
                channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(buf)), promise: nil)
            }
        }
        let id: Int, initial: [Data]
        do {
            (id, initial) = try store.watch(type, filter: filter, resourceVersion: rv, sink: sink)
        } catch let e as APIError {
            respond(context: context, head: head, code: e.code, contentType: "application/json", data: e.status.data)
            return
        } catch {
            respond(context: context, head: head, code: 500, contentType: "application/json", data: Data())
            return
        }
        watchID = id
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Transfer-Encoding", value: "chunked")
        headers.add(name: "Cache-Control", value: "no-cache, private")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))), promise: nil)
        for d in initial {
            var buf = context.channel.allocator.buffer(capacity: d.count)
            buf.writeBytes(d)
            context.write(wrapOutboundOut(.body(.byteBuffer(buf))), promise: nil)
        }
        context.flush()
        let store = self.store
        watchTimer = loop.scheduleTask(in: .milliseconds(Int64(timeout * 1000))) {
            store.unwatch(id)
            // Queued after any event the sink already scheduled, so they are written first.
            loop.execute {
                guard channel.isActive else { return }
                channel.writeAndFlush(HTTPServerResponsePart.end(nil), promise: nil)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let id = watchID { store.unwatch(id) }
        watchTimer?.cancel()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
