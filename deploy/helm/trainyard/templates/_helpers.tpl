{{/* Names, labels and the pieces every Trainyard pod shares. */}}

{{- define "trainyard.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (.Values.nameOverride | default .Chart.Name) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (.Values.nameOverride | default .Chart.Name) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The name of one component's objects. Input: dict root, component. */}}
{{- define "trainyard.componentName" -}}
{{- printf "%s-%s" (include "trainyard.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Input: dict root, component. */}}
{{- define "trainyard.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Values.nameOverride | default .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Input: dict root, component. */}}
{{- define "trainyard.labels" -}}
{{ include "trainyard.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end -}}

{{/* Input: dict root, image (one of .Values.image.*). */}}
{{- define "trainyard.image" -}}
image: {{ printf "%s:%s" .image.repository (.image.tag | default .root.Chart.AppVersion) | quote }}
imagePullPolicy: {{ .image.pullPolicy }}
{{- end -}}

{{- define "trainyard.secretName" -}}
{{- if .Values.secrets.create -}}
{{- printf "%s-secrets" (include "trainyard.fullname" .) -}}
{{- else -}}
{{- required "secrets.existingSecret (or secrets.create: true) is required" .Values.secrets.existingSecret -}}
{{- end -}}
{{- end -}}

{{/* One variable from the application Secret. Input: dict root, name, key, optional. */}}
{{- define "trainyard.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "trainyard.secretName" .root }}
      key: {{ .key }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end -}}

{{/*
The NATS connection of a service: every node's URL, its own user's seed (mounted by
trainyard.natsVolumes), TLS when enabled, and the replicas the topology was provisioned with.
Input: dict root, user (the NATS user; NATS_USER is set when it differs from the service's own).
*/}}
{{- define "trainyard.natsEnv" -}}
- name: NATS_URL
  value: {{ .root.Values.nats.url | quote }}
- name: NATS_REPLICAS
  value: {{ .root.Values.nats.replicas | quote }}
- name: NATS_NKEY_SEED_FILE
  value: /var/run/secrets/trainyard/nats/seed.nk
{{- if .natsUser }}
- name: NATS_USER
  value: {{ .natsUser | quote }}
{{- end }}
{{- with .root.Values.nats.tls }}
{{- if .enabled }}
- name: NATS_TLS_CA_FILE
  value: /var/run/secrets/trainyard/nats-tls/ca.crt
{{- if .certKey }}
- name: NATS_TLS_CERT_FILE
  value: /var/run/secrets/trainyard/nats-tls/tls.crt
- name: NATS_TLS_KEY_FILE
  value: /var/run/secrets/trainyard/nats-tls/tls.key
{{- end }}
{{- end }}
{{- end }}
- name: LOG_LEVEL
  value: {{ .root.Values.logLevel | quote }}
# METRICS_PORT: each service's /metrics, once the services serve it.
{{- end -}}

{{/* A component's extra variables (values <component>.env); empty without any. Input: the env map. */}}
{{- define "trainyard.extraEnv" -}}
{{- $vars := list -}}
{{- range $name, $value := . -}}
{{- $vars = append $vars (dict "name" $name "value" ($value | toString)) -}}
{{- end -}}
{{- with $vars }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{/* Mounts for trainyard.natsEnv and a writable /tmp (the root filesystem is read-only). */}}
{{- define "trainyard.natsVolumeMounts" -}}
- name: nats-seed
  mountPath: /var/run/secrets/trainyard/nats
  readOnly: true
{{- if .Values.nats.tls.enabled }}
- name: nats-tls
  mountPath: /var/run/secrets/trainyard/nats-tls
  readOnly: true
{{- end }}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/* Input: dict root, user (whose <user>.nk becomes seed.nk). */}}
{{- define "trainyard.natsVolumes" -}}
- name: nats-seed
  secret:
    secretName: {{ .root.Values.nats.credentialsSecret }}
    # Group-readable: the pod's fsGroup (1000) is the service user's group.
    defaultMode: 0440
    items:
      - key: {{ printf "%s.nk" .user }}
        path: seed.nk
{{- with .root.Values.nats.tls }}
{{- if .enabled }}
- name: nats-tls
  secret:
    secretName: {{ .secretName }}
    defaultMode: 0440
    items:
      - key: {{ .caKey }}
        path: ca.crt
      {{- if .certKey }}
      - key: {{ .certKey }}
        path: tls.crt
      - key: {{ .keyKey }}
        path: tls.key
      {{- end }}
{{- end }}
{{- end }}
- name: tmp
  emptyDir:
    sizeLimit: 1Gi
{{- end -}}

{{/*
Pod-level settings every component shares. Input: dict root, component, values (the component's
values), replicas (nil for a DaemonSet or Job).
*/}}
{{- define "trainyard.podSpecCommon" -}}
automountServiceAccountToken: false
enableServiceLinks: false
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if and .replicas (gt (int .replicas) 1) }}
# Replicas on different nodes where possible: losing a node loses one of them.
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "trainyard.selectorLabels" . | nindent 8 }}
{{- end }}
{{- end -}}

{{/*
The liveness check of a service without an HTTP port (scheduler, notifier, dataset, agent): the
images' HEALTHCHECK script, which asks /metrics once METRICS_PORT is set and otherwise checks
that the service's process runs.
*/}}
{{- define "trainyard.execLiveness" -}}
livenessProbe:
  exec:
    command: ["node", "/app/healthcheck.mjs"]
  initialDelaySeconds: 20
  periodSeconds: 30
  timeoutSeconds: 10
  failureThreshold: 3
{{- end -}}

{{/* A PodDisruptionBudget, only with two replicas or more (with one it would block every drain). */}}
{{- define "trainyard.pdb" -}}
{{- if gt (int .values.replicas) 1 }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "trainyard.componentName" . }}
  labels:
    {{- include "trainyard.labels" . | nindent 4 }}
spec:
  minAvailable: {{ .values.podDisruptionBudget.minAvailable }}
  selector:
    matchLabels:
      {{- include "trainyard.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}
