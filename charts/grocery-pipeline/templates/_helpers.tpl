{{/*
Names, labels, images and the pod security settings every template shares.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "grocery-pipeline.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* "<release>-<chart>", or fullnameOverride; just the release name when it already holds the chart name. */}}
{{- define "grocery-pipeline.fullname" -}}
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

{{/* "<chart>-<version>" for the helm.sh/chart label. */}}
{{- define "grocery-pipeline.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels; call with (dict "ctx" $ "component" "operator"). */}}
{{- define "grocery-pipeline.selectorLabels" -}}
app.kubernetes.io/name: {{ include "grocery-pipeline.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{/* The standard app.kubernetes.io labels the chart sets; call with (dict "ctx" $ "component" "operator"). */}}
{{- define "grocery-pipeline.standardLabels" -}}
helm.sh/chart: {{ include "grocery-pipeline.chart" .ctx }}
{{ include "grocery-pipeline.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: grocery-pipeline
{{- end }}

{{/*
commonLabels less the keys of the standard labels: those select pods and tell Helm it owns an object,
so the chart's own values win (a mapping with a key twice is no valid object anyway). NOTES.txt names
the keys left out.
*/}}
{{- define "grocery-pipeline.commonLabels" -}}
{{- $standard := include "grocery-pipeline.standardLabels" (dict "ctx" . "component" "any") | fromYaml }}
{{- $common := dict }}
{{- range $key, $value := .Values.commonLabels }}
{{- if not (hasKey $standard $key) }}
{{- $_ := set $common $key $value }}
{{- end }}
{{- end }}
{{- with $common }}{{ toYaml . }}{{ end }}
{{- end }}

{{/* The labels of every object: the standard ones, then commonLabels; call with (dict "ctx" $ "component" "operator"). */}}
{{- define "grocery-pipeline.labels" -}}
{{ include "grocery-pipeline.standardLabels" . }}
{{- with include "grocery-pipeline.commonLabels" .ctx }}
{{ . }}
{{- end }}
{{- end }}

{{/* The namespace of stage pods and Spark jobs. */}}
{{- define "grocery-pipeline.jobNamespace" -}}
{{- default .Release.Namespace .Values.jobNamespace }}
{{- end }}

{{/* ServiceAccount names. */}}
{{- define "grocery-pipeline.operatorServiceAccountName" -}}
{{- default (printf "%s-operator" (include "grocery-pipeline.fullname" .)) .Values.operator.serviceAccount.name }}
{{- end }}

{{- define "grocery-pipeline.livyServiceAccountName" -}}
{{- default (printf "%s-livy" (include "grocery-pipeline.fullname" .)) .Values.livy.serviceAccount.name }}
{{- end }}

{{/*
A project image reference; call with (dict "ctx" $ "image" .Values.operator.image).
registry/repository, then @digest when given, else :tag (the image's, image.tag, or appVersion).
*/}}
{{- define "grocery-pipeline.image" -}}
{{- $ctx := .ctx }}
{{- $repo := .image.repository }}
{{- with $ctx.Values.image.registry }}
{{- $repo = printf "%s/%s" (trimSuffix "/" .) $repo }}
{{- end }}
{{- if .image.digest }}
{{- printf "%s@%s" $repo .image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (.image.tag | default $ctx.Values.image.tag | default $ctx.Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Pod-level security: Pod Security Standard "restricted". Not configurable on purpose. */}}
{{- define "grocery-pipeline.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Container-level security: Pod Security Standard "restricted". Not configurable on purpose.
     The root filesystem is read-only, except for a container given (dict "writableRoot" true):
     Spark's driver and executors, which write their scratch and work folders (and the driver's
     temporary folder) in the image, as the SparkApplications the operator renders do. */}}
{{- define "grocery-pipeline.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: {{ not .writableRoot }}
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Operator RBAC rules on namespaced objects: in a ClusterRole (all namespaces) or a Role per namespace. */}}
{{- define "grocery-pipeline.operatorNamespacedRules" -}}
# The GroceryPipeline resources it reconciles (kopf patches finalizers and its annotations).
- apiGroups: ["grocery.io"]
  resources: ["grocerypipelines"]
  verbs: ["get", "list", "watch", "patch"]
# The status it writes back (phase, stages, conditions).
- apiGroups: ["grocery.io"]
  resources: ["grocerypipelines/status"]
  verbs: ["get", "patch", "update"]
# The rendered pipeline configuration that Airflow's DAG factory reads.
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
# kopf posts Kubernetes events about what it did.
- apiGroups: ["", "events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/* NetworkPolicy egress rules: cluster DNS and the Kubernetes API server. */}}
{{- define "grocery-pipeline.egressDnsAndApiServer" -}}
# Cluster DNS.
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: kube-system
  ports:
    - protocol: UDP
      port: 53
    - protocol: TCP
      port: 53
# The Kubernetes API server.
- ports:
    {{- range .Values.networkPolicy.apiServerPorts }}
    - protocol: TCP
      port: {{ . }}
    {{- end }}
  {{- with .Values.networkPolicy.apiServerCidrs }}
  to:
    {{- range . }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  {{- end }}
{{- end }}
