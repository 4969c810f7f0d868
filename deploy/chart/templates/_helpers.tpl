{{/* The chart's name. */}}
{{- define "scalers.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name, the name of every object: the release name, prefixed with the
chart's name unless it contains it. */}}
{{- define "scalers.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The labels that select scalerd's pods. */}}
{{- define "scalers.selectorLabels" -}}
app.kubernetes.io/name: {{ include "scalers.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The labels of every object. No Helm-only labels (helm.sh/chart, managed-by): deploy/ is
rendered from this chart and applied with kustomize. */}}
{{- define "scalers.labels" -}}
{{ include "scalers.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: scalers
{{- end }}

{{- define "scalers.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "scalers.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name: the ServiceAccount to use when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The one list of what scalerd may do (ClusterRole and Role rules), each rule one line of
flow lists. docs/operations.md documents every rule and scalerd/tests/packaging.rs checks that
these are exactly the requests scalerd makes: add a rule here, with its row there.

scalers.clusterRules: on namespaced resources, in every namespace (a ClusterRoleBinding) or, in
cluster mode with watchNamespaces, in those namespaces only (a RoleBinding in each). */}}
{{- define "scalers.clusterRules" -}}
- apiGroups: ["*"]
  resources: ["*/scale"]
  verbs: ["get", "patch"]
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["argoproj.io"]
  resources: ["rollouts"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: [""]
  resources: ["secrets", "configmaps"]
  verbs: ["get"]
- apiGroups: ["autoscaling"]
  resources: ["horizontalpodautoscalers"]
  verbs: ["list", "watch"]
- apiGroups: ["keda.sh"]
  resources: ["scaledobjects"]
  verbs: ["list", "watch", "patch"]
- apiGroups: ["keda.sh"]
  resources: ["triggerauthentications"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["keda.sh"]
  resources: ["scaledobjects/status"]
  verbs: ["patch"]
- apiGroups: ["keda.sh"]
  resources: ["scaledjobs"]
  verbs: ["list", "watch"]
- apiGroups: ["keda.sh"]
  resources: ["scaledjobs/status"]
  verbs: ["patch"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["list", "watch", "create", "delete"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
{{- with .Values.rbac.extraClusterRules }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* On cluster-scoped resources: always a ClusterRoleBinding. */}}
{{- define "scalers.clusterScopedRules" -}}
- apiGroups: ["keda.sh"]
  resources: ["clustertriggerauthentications"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["get"]
{{- end }}

{{/* In scalerd's own namespace (a Role): its Leases; with watchNamespaces also the Secrets of
ClusterTriggerAuthentications, which are read there. */}}
{{- define "scalers.namespaceRules" -}}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
{{- if .Values.sharding.enabled }}
  verbs: ["get", "list", "create", "update", "delete"]
{{- else }}
  verbs: ["get", "create", "update"]
{{- end }}
{{- if include "scalers.namespaced" . }}
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
{{- end }}
{{- end }}

{{/* Non-empty when scalerd only sees some namespaces: cluster mode with watchNamespaces. */}}
{{- define "scalers.namespaced" -}}
{{- if and (eq .Values.mode "cluster") .Values.watchNamespaces }}true{{ end }}
{{- end }}

{{/* The arguments of `scalerd run`. */}}
{{- define "scalers.args" -}}
- run
{{- if eq .Values.mode "file" }}
- --config=/etc/scalerd/scalerd.yaml
{{- else }}
{{- range .Values.watchNamespaces }}
- --watch-namespace={{ . }}
{{- end }}
{{- end }}
- --admin-addr=0.0.0.0:{{ .Values.adminPort }}
{{- if .Values.sharding.enabled }}
- --sharding
- --shards={{ .Values.sharding.shards }}
{{- else }}
- --leader-elect={{ .Values.leaderElection.enabled }}
{{- if .Values.leaderElection.enabled }}
- --lease-name={{ .Values.leaderElection.leaseName }}
- --lease-timings
- {{ .Values.leaderElection.leaseDuration | quote }}
- {{ .Values.leaderElection.renewDeadline | quote }}
- {{ .Values.leaderElection.retryPeriod | quote }}
{{- end }}
{{- end }}
- --lease-namespace={{ .Release.Namespace }}
- --kube-api-qps={{ .Values.kubeApi.qps }}
- --kube-api-burst={{ .Values.kubeApi.burst }}
{{- end }}
