// Package inject adds the faultline sidecar to Kubernetes manifests, and
// takes it out again. `faultline inject` is its command line.
//
// # What is added
//
// To the pod of each Deployment, StatefulSet, DaemonSet, ReplicaSet, Job,
// CronJob and Pod (alone or in a v1 List), inject adds:
//
//   - a container named faultline: by default a native sidecar (an init
//     container with restartPolicy: Always, Kubernetes 1.29 or later),
//     with Options.Classic an ordinary container after the app's. It runs
//     `faultline run --listen=:8080 --upstream=http://127.0.0.1:8000
//     --metrics-listen=:9464 --data-dir=/var/lib/faultline
//     --drain-delay=5s --drain-timeout=20s`; declares the ports
//     faultline-http (8080) and metrics (9464); is ready on /readyz and
//     alive on /healthz; requests 100m CPU and 64Mi of memory, is limited
//     to 256Mi (no CPU limit: throttling a proxy slows every request); runs
//     as user 65532, non-root, with a read-only root filesystem, no
//     privilege escalation, every capability dropped and the RuntimeDefault
//     seccomp profile;
//   - its environment: K8S_POD_NAME, K8S_POD_UID, K8S_NAMESPACE_NAME and
//     K8S_NODE_NAME from the downward API; OTEL_SERVICE_NAME from the
//     pod's app.kubernetes.io/name, app or k8s-app label (else the
//     workload's name); OTEL_RESOURCE_ATTRIBUTES with k8s.pod.name,
//     k8s.pod.uid, k8s.namespace.name, k8s.node.name (from those
//     variables), k8s.container.name, k8s.<kind>.name and service.version
//     (the app.kubernetes.io/version label); TMPDIR on the data volume;
//     then Options.Env, which replaces any of these;
//   - an emptyDir volume faultline-data (size limit 1Gi) for the capture
//     store;
//   - the pod annotations faultline.dev/injected: "true" and
//     faultline.dev/version; with Options.PrometheusAnnotations also
//     prometheus.io/scrape, port and path (a PodMonitor needs none), which
//     faultline.dev/added-annotations lists.
//
// The admin page stays on 127.0.0.1:9901, reachable with kubectl
// port-forward only.
//
// A Service in the same input, in the same namespace, whose selector
// matches an injected pod, and whose TCP port reaches the app's port (a
// targetPort of 8000, a named targetPort that a container port of 8000
// carries, or no targetPort on port 8000) is re-pointed at the sidecar's
// port; the original targetPort is kept in the Service's annotation
// faultline.dev/original-target-port ("80=http": port 80 targeted
// http; "8000=": port 8000 had no targetPort). Options.KeepServices
// leaves Services alone.
//
// The new targetPort is the sidecar's port number, not its name: the
// endpoints of a Service reach the named ports of a native sidecar only
// from Kubernetes 1.32 on (kubernetes/kubernetes#127958). A number is
// resolved on every pod, including those not yet rolled out, which have
// no sidecar: apply the re-pointed Service once the workload's rollout is
// done, and, when uninjecting, apply the restored Service first.
//
// # Injecting again, and uninjecting
//
// Inject first takes out a sidecar that a pod already carries, then adds
// it with the options given: injecting twice writes what injecting once
// does, and injecting with new options (a new version, image, port) updates
// the sidecar. Uninject takes out everything listed above and restores
// the Services' targetPorts; the objects it writes equal the original ones
// once decoded.
//
// # What is kept of the input
//
// A document that inject does not change (a ConfigMap, a custom resource,
// a Service of another app, a document of comments only) is written back
// byte for byte, comments and formatting included. A document that it
// changes is written anew as kubectl writes YAML: keys sorted, comments
// lost, except the comment lines that open the document (helm template's
// "# Source:" lines). Every value in it is kept as written (cpu: 0.5 stays
// 0.5, not 500m); only what the sidecar needs is added or removed.
//
// A document that inject changes must decode strictly into its
// k8s.io/api type, as the API server's strict field validation requires:
// an unknown field (a typo such as imagePullPolicyy) or a duplicate key is
// an error that names the document and the field, never dropped silently.
// Workloads of other API versions (extensions/v1beta1 Deployment) are
// passed through with a warning.
//
// # Shutdown order
//
// With a native sidecar (the default), when a pod is deleted:
//
//  1. Endpoint controllers take the pod out of Services; kube-proxy, load
//     balancers and ingress controllers stop sending it new connections
//     over the next few seconds. Meanwhile the kubelet runs the preStop
//     hooks, then sends SIGTERM to the app containers only.
//  2. The app finishes its requests and exits. gunicorn stops accepting
//     connections as soon as it gets SIGTERM: requests that still arrive
//     before endpoints have updated get a 502 from the sidecar
//     (faultline_server_errors_total{source="upstream_unreachable"}). Without
//     the sidecar those clients got a refused connection instead. To keep
//     them, give the app a preStop hook that sleeps a few seconds
//     (lifecycle.preStop.sleep.seconds: 5, Kubernetes 1.30 or later).
//  3. Once the app containers have exited, the kubelet sends SIGTERM to the
//     sidecar: /readyz turns 503, it still accepts requests for
//     --drain-delay, then closes its listener and gives the requests in
//     flight up to --drain-timeout. Here the app is gone already, so the
//     delay only costs shutdown time; --drain-delay 0s is fine when the app
//     sleeps in preStop.
//
// With a classic sidecar the kubelet sends SIGTERM to every container at
// once. The sidecar's --drain-delay then keeps it accepting while
// endpoints update; the app must keep accepting as long, with a preStop
// sleep no longer than --drain-delay (inject warns when it is longer: the
// sidecar would stop accepting first).
//
// Either way the sidecar needs no preStop hook of its own: --drain-delay
// does that job. Every container shares the pod's
// terminationGracePeriodSeconds (30 by default), counted from the deletion:
// it must exceed --drain-delay + --drain-timeout, or the kubelet kills the
// sidecar before its drain ends, and inject warns when it does not. With
// a native sidecar the app's own shutdown comes first and counts against
// the same period.
//
// # Warnings
//
// Result.Warnings also reports a pod whose containers declare ports none
// of which is Options.AppPort, and a Service that selects an injected pod
// but none of whose ports reaches the app.
package inject
