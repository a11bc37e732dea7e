package inject

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// workloadKind is a kind of object that carries a pod template.
type workloadKind struct {
	apiVersion string
	newObject  func() metav1.Object
	// template returns the pod's metadata and spec inside obj.
	template func(obj metav1.Object) (*metav1.ObjectMeta, *corev1.PodSpec)
	// ownerAttribute is the OpenTelemetry resource attribute that names
	// the workload, e.g. k8s.deployment.name; empty for a Pod.
	ownerAttribute string
	// runsToCompletion: its pods end when the app does (Job, CronJob).
	runsToCompletion bool
}

// workloadKinds are the kinds that inject adds the sidecar to, by kind.
var workloadKinds = map[string]workloadKind{
	"Deployment": {
		apiVersion: "apps/v1",
		newObject:  func() metav1.Object { return &appsv1.Deployment{} },
		template: func(o metav1.Object) (*metav1.ObjectMeta, *corev1.PodSpec) {
			t := &o.(*appsv1.Deployment).Spec.Template
			return &t.ObjectMeta, &t.Spec
		},
		ownerAttribute: "k8s.deployment.name",
	},
	"StatefulSet": {
		apiVersion: "apps/v1",
		newObject:  func() metav1.Object { return &appsv1.StatefulSet{} },
		template: func(o metav1.Object) (*metav1.ObjectMeta, *corev1.PodSpec) {
			t := &o.(*appsv1.StatefulSet).Spec.Template
			return &t.ObjectMeta, &t.Spec
		},
		ownerAttribute: "k8s.statefulset.name",
	},
	"DaemonSet": {
		apiVersion: "apps/v1",
		newObject:  func() metav1.Object { return &appsv1.DaemonSet{} },
		template: func(o metav1.Object) (*metav1.ObjectMeta, *corev1.PodSpec) {
			t := &o.(*appsv1.DaemonSet).Spec.Template
			return &t.ObjectMeta, &t.Spec
		},
		ownerAttribute: "k8s.daemonset.name",
	},
	"ReplicaSet": {
		apiVersion: "apps/v1",
		newObject:  func() metav1.Object { return &appsv1.ReplicaSet{} },
		template: func(o metav1.Object) (*metav1.ObjectMeta, *corev1.PodSpec) {
			t := &o.(*appsv1.ReplicaSet).Spec.Template
			return &t.ObjectMeta, &t.Spec
		},
		ownerAttribute: "k8s.replicaset.name",
	},
	"Job": {
		apiVersion: "batch/v1",
		newObject:  func() metav1.Object { return &batchv1.Job{} },
		template: func(o metav1.Object) (*metav1.ObjectMeta, *corev1.PodSpec) {
			t := &o.(*batchv1.Job).Spec.Template
			return &t.ObjectMeta, &t.Spec
		},
		ownerAttribute:   "k8s.job.name",
		runsToCompletion: true,
	},
	"CronJob": {
		apiVersion: "batch/v1",
		newObject:  func() metav1.Object { return &batchv1.CronJob{} },
		template: func(o metav1.Object) (*metav1.ObjectMeta, *corev1.PodSpec) {
			t := &o.(*batchv1.CronJob).Spec.JobTemplate.Spec.Template
			return &t.ObjectMeta, &t.Spec
		},
		ownerAttribute:   "k8s.cronjob.name",
		runsToCompletion: true,
	},
	"Pod": {
		apiVersion: "v1",
		newObject:  func() metav1.Object { return &corev1.Pod{} },
		template: func(o metav1.Object) (*metav1.ObjectMeta, *corev1.PodSpec) {
			p := o.(*corev1.Pod)
			return &p.ObjectMeta, &p.Spec
		},
	},
}
