import EthstackKubernetesClient
import EthstackModel
import EthstackProviderAPI

/// Discovery for drift's unmanaged objects (and `import --discover`): the objects of the common
/// kinds that carry the stack's label, or that live in given namespaces. Only GETs. What
/// controllers make (objects with an owner, a namespace's default service account and CA bundle)
/// and what Helm or Kurtosis manage is not listed: it belongs to something else.
extension ConfiguredKubernetes {
    /// The kinds looked at: what stacks write, not what controllers derive (Pods, ReplicaSets, Endpoints).
    static let discoverableKinds: [(apiVersion: String, kind: String)] = [
        ("v1", "Namespace"), ("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "Service"), ("v1", "ServiceAccount"),
        ("v1", "PersistentVolumeClaim"), ("v1", "ResourceQuota"), ("v1", "LimitRange"),
        ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("apps/v1", "DaemonSet"),
        ("batch/v1", "CronJob"), ("batch/v1", "Job"),
        ("networking.k8s.io/v1", "Ingress"), ("networking.k8s.io/v1", "NetworkPolicy"),
        ("rbac.authorization.k8s.io/v1", "Role"), ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"), ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        ("storage.k8s.io/v1", "StorageClass"),
    ]

    func discover(_ request: DiscoverRequest) async throws -> DiscoverResponse {
        let client = resources.client
        var scopes: [(namespace: String?, selector: String?)] = []
        switch request.selector {
        case .stackMark(let stack): scopes = [(nil, "\(ManifestResource.stackLabel)=\(ManifestResource.labelValue(stack))")]
        case .tag(let key, let value): scopes = [(nil, "\(key)=\(value)")]
        case .namespaces(let names): scopes = names.sorted().map { ($0, nil) }
        case .eksCluster, .insideVPC: return DiscoverResponse(objects: [])
        }
        var work: [(apiVersion: String, kind: String, namespace: String?, selector: String?)] = []
        for scope in scopes {
            for k in Self.discoverableKinds {
                // In a namespace, cluster-scoped kinds say nothing.
                if scope.namespace != nil, ["Namespace", "ClusterRole", "ClusterRoleBinding", "StorageClass"].contains(k.kind) { continue }
                work.append((k.apiVersion, k.kind, scope.namespace, scope.selector))
            }
        }
        // The namespaces themselves, when asked for by name.
        var namespaceNames: Set<String>?
        if case .namespaces(let names) = request.selector {
            namespaceNames = Set(names)
            work.append(("v1", "Namespace", nil, nil))
        }
        var notes: [String] = []
        var objects: [DiscoveredObject] = []
        let answers = await withTaskGroup(of: (Int, Result<[KubernetesObject], any Error>).self) { group in
            for (i, w) in work.enumerated() {
                group.addTask {
                    do {
                        return (i, .success(try await client.list(apiVersion: w.apiVersion, kind: w.kind, namespace: w.namespace,
                                                                  labelSelector: w.selector)))
                    } catch {
                        return (i, .failure(error))
                    }
                }
            }
            var out: [(Int, Result<[KubernetesObject], any Error>)] = []
            for await a in group { out.append(a) }
            return out.sorted { $0.0 < $1.0 }
        }
        for (i, answer) in answers {
            switch answer {
            case .success(let items):
                for item in items where Self.ownedByTheStackAuthor(item) {
                    if item.kind == "Namespace", item.namespace == nil, let names = namespaceNames, !names.contains(item.name) { continue }
                    // The attributes an import of the object gives (without a second GET).
                    let attributes = request.readAttributes
                        ? resources.attributes(manifest: ManifestResource.importedManifest(item.value), live: item, config: [:]) : [:]
                    objects.append(DiscoveredObject(type: ManifestResource.schema.type, id: ManifestResource.id(of: item),
                                                    attributes: attributes))
                }
            case .failure(let error as KubernetesAPIError) where error.isNotFound:
                continue
            case .failure(let error as KubernetesClientError):
                // A kind the server does not serve (no such API group) is nothing to report.
                notes.append("\(work[i].kind): \(error)")
            case .failure(let error):
                throw ProviderError.kubernetes(error, operation: "discover", address: nil)
            }
        }
        return DiscoverResponse(objects: objects.sorted { $0.id < $1.id }, notes: notes, calls: work.count)
    }

    /// Whether a person (or ethstack) made the object, rather than a controller, Helm or Kurtosis.
    static func ownedByTheStackAuthor(_ o: KubernetesObject) -> Bool {
        if !(o.metadata["ownerReferences"]?.listValue ?? []).isEmpty { return false }
        if o.kind == "ServiceAccount" && o.name == "default" { return false }
        if o.kind == "ConfigMap" && o.name == "kube-root-ca.crt" { return false }
        if o.kind == "Secret", o.value["type"]?.stringValue == "kubernetes.io/service-account-token" { return false }
        let labels = o.labels
        if labels["app.kubernetes.io/managed-by"] == "Helm" || labels.keys.contains(where: { $0.hasPrefix("kurtosistech.com/") }) { return false }
        if o.kind == "Secret", (o.value["type"]?.stringValue ?? "").hasPrefix("helm.sh/") { return false }
        return true
    }
}
