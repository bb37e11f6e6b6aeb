{{- define "vaultroute.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "vaultroute.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "vaultroute.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vaultroute.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "vaultroute.labels" -}}
{{ include "vaultroute.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "vaultroute.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{- define "vaultroute.policyConfigMap" -}}
{{- .Values.policy.existingConfigMap | default (printf "%s-policy" (include "vaultroute.fullname" .)) -}}
{{- end -}}

{{/* Refuse what cannot work: replicas without a shared database, an egress rule open to everywhere. */}}
{{- define "vaultroute.checks" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.database.existingSecret) -}}
{{- fail "replicaCount > 1 needs a shared PostgreSQL: set database.existingSecret (a Secret holding DATABASE_URL)" -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (not .Values.database.existingSecret) -}}
{{- fail "autoscaling needs a shared PostgreSQL: set database.existingSecret" -}}
{{- end -}}
{{- if and .Values.redis.url .Values.redis.existingSecret -}}
{{- fail "set redis.url or redis.existingSecret, not both" -}}
{{- end -}}
{{- range .Values.networkPolicy.egress -}}
{{- if not .to -}}
{{- fail (printf "networkPolicy.egress %q has no 'to': it would allow every destination" (.name | default "?")) -}}
{{- end -}}
{{- if not .ports -}}
{{- fail (printf "networkPolicy.egress %q has no 'ports': it would allow every port" (.name | default "?")) -}}
{{- end -}}
{{- end -}}
{{- end -}}
