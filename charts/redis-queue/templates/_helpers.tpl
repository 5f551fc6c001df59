{{/*
Names, labels and the PromQL building blocks shared by every template.
*/}}

{{- define "redis-queue.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "redis-queue.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "redis-queue.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object the chart renders. */}}
{{- define "redis-queue.labels" -}}
helm.sh/chart: {{ include "redis-queue.chart" . }}
{{ include "redis-queue.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: redis-queue-stack
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "redis-queue.selectorLabels" -}}
app.kubernetes.io/name: {{ include "redis-queue.name" . }}
app.kubernetes.io/instance: {{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{- define "redis-queue.operator.fullname" -}}
{{- printf "%s-operator" (include "redis-queue.fullname" . | trunc 54 | trimSuffix "-") -}}
{{- end -}}

{{- define "redis-queue.operator.selectorLabels" -}}
{{ include "redis-queue.selectorLabels" . }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "redis-queue.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create -}}
{{- default (include "redis-queue.operator.fullname" .) .Values.operator.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.operator.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "redis-queue.image" -}}
{{- $tag := .image.tag | default .root.Chart.AppVersion -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}

{{/* The RedisQueue's name (X); its children are X-redis, X-exporter, ... (docs/CONTRACTS.md). */}}
{{- define "redis-queue.queueName" -}}
{{- default (include "redis-queue.fullname" . | trunc (include "redis-queue.maxNameLength" . | int) | trimSuffix "-") .Values.redisQueue.name -}}
{{- end -}}

{{- define "redis-queue.redisService" -}}
{{- printf "%s-redis" (include "redis-queue.queueName" .) -}}
{{- end -}}

{{- define "redis-queue.exporterService" -}}
{{- printf "%s-exporter" (include "redis-queue.queueName" .) -}}
{{- end -}}

{{- define "redis-queue.authSecret" -}}
{{- default (printf "%s-redis-auth" (include "redis-queue.queueName" .)) .Values.redisQueue.auth.existingSecret -}}
{{- end -}}

{{/* Labels the operator puts on the children of RedisQueue X (docs/CONTRACTS.md). */}}
{{- define "redis-queue.childSelectorLabels" -}}
app.kubernetes.io/name: redis-queue
app.kubernetes.io/instance: {{ include "redis-queue.queueName" . }}
{{- end -}}

{{/*
Kubernetes label values cannot contain ':' (e.g. "enhancement:queue"), so the queue appears in
metric labels and HPA selectors as a safe stand-in: "enhancement_queue".
*/}}
{{- define "redis-queue.queueLabelValue" -}}
{{- if .Values.autoscaling.queueLabelValue -}}
{{- .Values.autoscaling.queueLabelValue -}}
{{- else -}}
{{- $v := regexReplaceAll "[^A-Za-z0-9_.-]" .Values.autoscaling.queue "_" | trunc 63 -}}
{{- $v = regexReplaceAll "^[^A-Za-z0-9]+" $v "" -}}
{{- regexReplaceAll "[^A-Za-z0-9]+$" $v "" -}}
{{- end -}}
{{- end -}}

{{/* Matchers that pick this RedisQueue's exporter series (ServiceMonitor or scrape snippet). */}}
{{- define "redis-queue.exporterMatchers" -}}
namespace="{{ .Release.Namespace }}",service="{{ include "redis-queue.exporterService" . }}"
{{- end -}}

{{- define "redis-queue.replicasMetric" -}}
{{- if eq .Values.autoscaling.scaleTargetRef.kind "StatefulSet" -}}
kube_statefulset_status_replicas{namespace="{{ .Release.Namespace }}",statefulset="{{ .Values.autoscaling.scaleTargetRef.name }}"}
{{- else -}}
kube_deployment_status_replicas{namespace="{{ .Release.Namespace }}",deployment="{{ .Values.autoscaling.scaleTargetRef.name }}"}
{{- end -}}
{{- end -}}

{{/*
The autoscaling signal: the number of workers wanted, as one label-free sample. The HPA (or KEDA)
targets an average of 1 per worker, so its desired count is ceil(signal), and its tolerance test
compares signal / current workers with 1.

band (D = depth, R = current workers from kube-state-metrics, U/L = thresholds per worker):
  D > U*R          -> ceil(D / U)    more workers, at most U jobs each
  D < L*R          -> floor(D / L)   fewer workers, still at least L jobs each (0 -> minReplicas)
  otherwise        -> R              ratio 1: the HPA holds
  D absent (Redis down, the exporter publishes no depth) -> R: hold, never scale down blind
  R absent (no kube-state-metrics) -> D / jobsPerWorker: plain proportional
  both absent      -> no sample: the HPA reports the metric unavailable and keeps replicas
proportional: D / jobsPerWorker.
*/}}
{{- define "redis-queue.signalExpr" -}}
{{- $a := .Values.autoscaling -}}
{{- $d := printf "max(redis_queue_depth{%s,queue=\"%s\"})" (include "redis-queue.exporterMatchers" .) $a.queue -}}
{{- $r := printf "max(%s)" (include "redis-queue.replicasMetric" .) -}}
{{- $p := printf "%s / %v" $d $a.proportional.jobsPerWorker -}}
{{- if eq $a.mode "band" -}}
{{- $u := $a.thresholds.scaleUpPerWorker -}}
{{- $l := $a.thresholds.scaleDownPerWorker -}}
(ceil({{ $d }} / {{ $u }}) and ({{ $d }} > {{ $u }} * {{ $r }})) or (floor({{ $d }} / {{ $l }}) and ({{ $d }} < {{ $l }} * {{ $r }})) or {{ $r }} or ({{ $p }})
{{- else -}}
{{ $p }}
{{- end -}}
{{- end -}}

{{/* Labels of the recorded signal series; the HPA selector matches them (all valid label values). */}}
{{- define "redis-queue.signalLabels" -}}
namespace: {{ .Release.Namespace }}
queue: {{ include "redis-queue.queueLabelValue" . }}
redisqueue: {{ include "redis-queue.queueName" . }}
workload: {{ .Values.autoscaling.scaleTargetRef.name }}
{{- end -}}

{{- define "redis-queue.signalRecord" -}}
redis_queue:desired_workers
{{- end -}}

{{/* The recorded signal: label_replace attaches the Kubernetes-safe labels to the label-free value. */}}
{{- define "redis-queue.signalRecordExpr" -}}
{{- $e := include "redis-queue.signalExpr" . -}}
{{- range $k, $v := (include "redis-queue.signalLabels" . | fromYaml) -}}
{{- $e = printf "label_replace(%s, \"%s\", \"%s\", \"\", \"\")" $e $k (toString $v) -}}
{{- end -}}
{{- $e -}}
{{- end -}}

{{/*
Refuse the values with message "." (it names the values and the fix). `helm lint` turns `fail`
into an INFO log line and renders on, exit status 0 (helm/helm#8973, on purpose), so values that
`helm template` and `helm install` refuse would lint clean. The `include` after `fail` runs only
under lint: a template named by the message cannot exist, so lint reports an [ERROR] carrying it.
*/}}
{{- define "redis-queue.refuse" -}}
{{- fail . -}}
{{- include (printf "refused values: %s" .) dict -}}
{{- end -}}

{{/*
A Prometheus duration ("1m30s", "1d", "500ms"; values.schema.json checks the format) in
milliseconds, so two can be compared.
*/}}
{{- define "redis-queue.durationMs" -}}
{{- $unit := dict "y" 31536000000 "w" 604800000 "d" 86400000 "h" 3600000 "m" 60000 "s" 1000 "ms" 1 -}}
{{- $ms := 0 -}}
{{- range regexFindAll "[0-9]+(ms|[ywdhms])" . -1 -}}
{{- $ms = add $ms (mul (regexFind "^[0-9]+" . | int64) (get $unit (regexFind "[a-z]+$" .))) -}}
{{- end -}}
{{- $ms -}}
{{- end -}}

{{/* Refuse values the schema cannot express (relations between keys). */}}
{{- define "redis-queue.validate" -}}
{{- $a := .Values.autoscaling -}}
{{- $x := include "redis-queue.queueName" . -}}
{{- if and .Values.redisQueue.create (not (regexMatch (include "redis-queue.namePattern" .) $x)) -}}
{{- include "redis-queue.refuse" (printf "redisQueue.name: the RedisQueue name %q (derived from the release name) must start with a lowercase letter, as the CRD requires (DNS-1035 label); set redisQueue.name or fullnameOverride" $x) -}}
{{- end -}}
{{- if ne $a.engine "none" -}}
{{- if not (has $a.queue .Values.redisQueue.queues) -}}
{{- include "redis-queue.refuse" (printf "autoscaling.queue %q must be one of redisQueue.queues %v" $a.queue .Values.redisQueue.queues) -}}
{{- end -}}
{{- if ge (int $a.thresholds.scaleDownPerWorker) (int $a.thresholds.scaleUpPerWorker) -}}
{{- include "redis-queue.refuse" "autoscaling.thresholds.scaleDownPerWorker must be lower than autoscaling.thresholds.scaleUpPerWorker (the hold band lies between them)" -}}
{{- end -}}
{{- $u := int $a.thresholds.scaleUpPerWorker -}}
{{- $l := int $a.thresholds.scaleDownPerWorker -}}
{{- if and (eq $a.engine "keda") (eq $a.mode "band") $a.keda.redisTrigger.enabled (lt $u (sub (mul 2 $l) 1)) -}}
{{- include "redis-queue.refuse" (printf "autoscaling.keda.redisTrigger.enabled needs autoscaling.thresholds.scaleUpPerWorker >= 2 x autoscaling.thresholds.scaleDownPerWorker - 1 (here %d < %d): below that the redis trigger's ceil(depth / %d) outvotes the band's floor(depth / %d) and blocks scale-down (depth %d at 2 workers: redis wants 2, the band 1). Raise scaleUpPerWorker, lower scaleDownPerWorker, or set autoscaling.keda.redisTrigger.enabled=false" $u (sub (mul 2 $l) 1) $u $l (add $u 1)) -}}
{{- end -}}
{{- if gt (int $a.minReplicas) (int $a.maxReplicas) -}}
{{- include "redis-queue.refuse" "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" -}}
{{- end -}}
{{- if not (regexMatch "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$" (include "redis-queue.queueLabelValue" .)) -}}
{{- include "redis-queue.refuse" (printf "autoscaling.queue %q gives no valid label value; set autoscaling.queueLabelValue" $a.queue) -}}
{{- end -}}
{{- if not .Values.redisQueue.exporter.enabled -}}
{{- include "redis-queue.refuse" "autoscaling needs redisQueue.exporter.enabled: the signal is the exporter's redis_queue_depth" -}}
{{- end -}}
{{- end -}}
{{- $sm := .Values.monitoring.serviceMonitor -}}
{{- if and .Values.redisQueue.exporter.enabled (or $sm.enabled .Values.monitoring.rulesConfigMap.enabled) -}}
{{- if lt (include "redis-queue.durationMs" $sm.interval | int64) (include "redis-queue.durationMs" $sm.scrapeTimeout | int64) -}}
{{- include "redis-queue.refuse" (printf "monitoring.serviceMonitor.interval %s is shorter than monitoring.serviceMonitor.scrapeTimeout %s: Prometheus refuses a scrape that may outlast its interval. Raise interval to at least %s or lower scrapeTimeout to at most %s" $sm.interval $sm.scrapeTimeout $sm.scrapeTimeout $sm.interval) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* prometheus-adapter chart values exposing the recorded signal as an External metric. */}}
{{- define "redis-queue.adapterValues" -}}
rules:
  external:
    - seriesQuery: '{{ include "redis-queue.signalRecord" . }}{namespace!="",queue!="",workload!=""}'
      resources:
        overrides:
          namespace:
            resource: namespace
      name:
        matches: ^{{ include "redis-queue.signalRecord" . }}$
        as: {{ .Values.autoscaling.prometheusAdapter.metricName }}
      metricsQuery: 'max(<<.Series>>{<<.LabelMatchers>>})'
{{- end -}}
