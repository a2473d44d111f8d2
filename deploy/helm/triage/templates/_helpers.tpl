{{/* Names: <release>-triage, or the release name when it already says triage; 63 characters at most. */}}
{{- define "triage.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "triage.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The three services and which of them keep state in PostgreSQL (and consume a partitioned topic). */}}
{{- define "triage.services" -}}ingest correlator ticketing{{- end -}}
{{- define "triage.stateful" -}}correlator ticketing{{- end -}}

{{/* Name of one component's resources; argument: (dict "root" $ "component" "ingest"). */}}
{{- define "triage.componentName" -}}
{{- printf "%s-%s" (include "triage.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "triage.selectorLabels" -}}
app.kubernetes.io/name: {{ include "triage.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "triage.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "triage.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: triage
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end -}}

{{- define "triage.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Where each secret value comes from: an existing Secret, else the chart's own. */}}
{{- define "triage.databaseSecretName" -}}
{{- default (include "triage.fullname" .) .Values.database.existingSecret -}}
{{- end -}}
{{- define "triage.databaseSecretKey" -}}
{{- ternary .Values.database.existingSecretKey "DATABASE_URL" (ne .Values.database.existingSecret "") -}}
{{- end -}}
{{- define "triage.tokensSecretName" -}}
{{- default (include "triage.fullname" .) .Values.auth.existingSecret -}}
{{- end -}}
{{- define "triage.tokensSecretKey" -}}
{{- ternary .Values.auth.existingSecretKey "tokens" (ne .Values.auth.existingSecret "") -}}
{{- end -}}
{{- define "triage.saslSecretName" -}}
{{- default (include "triage.fullname" .) .Values.kafka.sasl.existingSecret -}}
{{- end -}}
{{- define "triage.saslPasswordKey" -}}
{{- ternary .Values.kafka.sasl.passwordKey "KAFKA_SASL_PASSWORD" (ne .Values.kafka.sasl.existingSecret "") -}}
{{- end -}}

{{- define "triage.sasl" -}}
{{- if hasPrefix "SASL_" .Values.kafka.securityProtocol }}true{{ end -}}
{{- end -}}
{{- define "triage.kafkaCA" -}}
{{- if or .Values.kafka.tls.caSecret .Values.kafka.tls.caConfigMap }}true{{ end -}}
{{- end -}}

{{/* An environment value as a string. Helm reads YAML numbers as float64, which print as 2.097152e+06:
whole numbers are written as integers. */}}
{{- define "triage.envValue" -}}
{{- if and (kindIs "float64" .) (eq . (float64 (int64 .))) -}}
{{- int64 . | toString -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}

{{/* Files the services read, mounted from Secrets / ConfigMaps. */}}
{{- define "triage.tokenFile" -}}/etc/triage/tokens/tokens{{- end -}}
{{- define "triage.kafkaCAFile" -}}/etc/triage/kafka-ca/ca.crt{{- end -}}

{{/* Values that cannot work fail the render here, naming the value. Included by the ConfigMap. */}}
{{- define "triage.validate" -}}
{{- $_ := required "kafka.bootstrap is required: the Kafka bootstrap brokers, e.g. my-cluster-kafka-bootstrap.kafka:9093" .Values.kafka.bootstrap -}}
{{- if not (has .Values.kafka.securityProtocol (list "PLAINTEXT" "SSL" "SASL_PLAINTEXT" "SASL_SSL")) -}}
{{- fail (printf "kafka.securityProtocol must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, not %q" .Values.kafka.securityProtocol) -}}
{{- end -}}
{{- if include "triage.sasl" . -}}
{{- if not (has .Values.kafka.sasl.mechanism (list "PLAIN" "SCRAM-SHA-256" "SCRAM-SHA-512")) -}}
{{- fail (printf "kafka.sasl.mechanism must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 with %s" .Values.kafka.securityProtocol) -}}
{{- end -}}
{{- if not (or .Values.kafka.sasl.password .Values.kafka.sasl.existingSecret) -}}
{{- fail "kafka.sasl.existingSecret (or kafka.sasl.password) is required with a SASL_* securityProtocol" -}}
{{- end -}}
{{- if not (or .Values.kafka.sasl.username .Values.kafka.sasl.usernameKey) -}}
{{- fail "kafka.sasl.username (or kafka.sasl.usernameKey in the existing Secret) is required with a SASL_* securityProtocol" -}}
{{- end -}}
{{- end -}}
{{- if not (or .Values.database.url .Values.database.existingSecret) -}}
{{- fail "database.existingSecret (or database.url) is required: the PostgreSQL URL of the correlator and ticketing schemas" -}}
{{- end -}}
{{- if not (or .Values.auth.tokens .Values.auth.existingSecret) -}}
{{- fail "auth.existingSecret (or auth.tokens) is required: triage has no unauthenticated mode" -}}
{{- end -}}
{{- if le (int .Values.terminationGracePeriodSeconds) (add .Values.preStopSleepSeconds .Values.shutdownGraceSeconds) -}}
{{- fail "terminationGracePeriodSeconds must exceed preStopSleepSeconds + shutdownGraceSeconds, or pods are killed mid-batch" -}}
{{- end -}}
{{- if .Values.kafka.topics.strimzi -}}
{{- $_ := required "kafka.topics.strimziCluster is required when kafka.topics.strimzi is true" .Values.kafka.topics.strimziCluster -}}
{{- end -}}
{{- range $name := splitList " " (include "triage.stateful" .) -}}
{{- $svc := index $.Values $name -}}
{{- if and $svc.autoscaling.enabled (gt (int $svc.autoscaling.minReplicas) (int $.Values.kafka.partitions)) -}}
{{- fail (printf "%s.autoscaling.minReplicas exceeds kafka.partitions: replicas beyond the partition count idle" $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The pod settings every workload shares. */}}
{{- define "triage.podCommon" -}}
automountServiceAccountToken: false
{{- with .Values.serviceAccountName }}
serviceAccountName: {{ . }}
{{- end }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
