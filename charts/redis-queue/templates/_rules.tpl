{{/*
Prometheus rule groups: the alerts and the autoscaling recording rule. Rendered into the
PrometheusRule (Prometheus Operator) and into a plain rule file in the "<fullname>-prometheus"
ConfigMap, so both kinds of Prometheus evaluate the same text.
*/}}
{{- define "redis-queue.ruleGroups" -}}
{{- $m := include "redis-queue.exporterMatchers" . -}}
{{- $x := include "redis-queue.queueName" . -}}
{{- $al := .Values.monitoring.alerts -}}
{{- $anyAlert := false -}}
{{- range $al }}{{ if .enabled }}{{ $anyAlert = true }}{{ end }}{{ end }}
{{- /* Every alert reads the exporter's series: without the exporter they would only report
       "absent" forever, so no alert group is rendered (README "Monitoring"). */}}
{{- if and $anyAlert .Values.redisQueue.exporter.enabled }}
- name: {{ include "redis-queue.fullname" . }}.alerts
  rules:
{{- with $al.depthHigh }}{{ if .enabled }}
    - alert: RedisQueueDepthHigh
      expr: max by (namespace, service, queue) (redis_queue_depth{ {{- $m -}} }) > {{ .threshold }}
      for: {{ .for }}
      labels:
        severity: {{ .severity }}
        redisqueue: {{ $x }}
      annotations:
        summary: {{ `Queue {{ $labels.queue }} holds {{ $value }} jobs` | quote }}
        description: {{ printf "Queue {{ $labels.queue }} of RedisQueue %s in {{ $labels.namespace }} has held more than %v jobs for %s: workers are not keeping up (check the worker HPA and the workers' logs)." $x .threshold .for | quote }}
{{- end }}{{ end }}
{{- with $al.oldestJobTooOld }}{{ if .enabled }}
    - alert: RedisQueueOldestJobTooOld
      expr: max by (namespace, service, queue) (redis_queue_oldest_job_age_seconds{ {{- $m -}} }) > {{ .thresholdSeconds }}
      for: {{ .for }}
      labels:
        severity: {{ .severity }}
        redisqueue: {{ $x }}
      annotations:
        summary: {{ `The next job in {{ $labels.queue }} has waited {{ $value }} seconds` | quote }}
        description: {{ printf "The oldest job in queue {{ $labels.queue }} of RedisQueue %s in {{ $labels.namespace }} has waited longer than %v seconds: workers are stuck or absent." $x .thresholdSeconds | quote }}
{{- end }}{{ end }}
{{- with $al.redisDown }}{{ if .enabled }}
    - alert: RedisQueueRedisDown
      expr: max by (namespace, service) (redis_queue_up{ {{- $m -}} }) == 0
      for: {{ .for }}
      labels:
        severity: {{ .severity }}
        redisqueue: {{ $x }}
      annotations:
        summary: {{ printf "Redis of RedisQueue %s does not answer PING" $x | quote }}
        description: {{ printf "The exporter {{ $labels.service }} in {{ $labels.namespace }} reports redis_queue_up 0: producers cannot enqueue and workers cannot dequeue. Autoscaling holds the current workers meanwhile." | quote }}
{{- end }}{{ end }}
{{- with $al.aofWriteFailing }}{{ if .enabled }}
    - alert: RedisQueueAOFWriteFailing
      expr: min by (namespace, service) (redis_queue_aof_last_write_ok{ {{- $m -}} }) == 0
      for: {{ .for }}
      labels:
        severity: {{ .severity }}
        redisqueue: {{ $x }}
      annotations:
        summary: {{ printf "Redis of RedisQueue %s cannot write its AOF" $x | quote }}
        description: {{ printf "The last AOF write of RedisQueue %s in {{ $labels.namespace }} failed (disk full or read-only?): new jobs are not durable and Redis may refuse writes." $x | quote }}
{{- end }}{{ end }}
{{- with $al.aofDisabled }}{{ if .enabled }}
    - alert: RedisQueueAOFDisabled
      expr: min by (namespace, service) (redis_queue_aof_enabled{ {{- $m -}} }) == 0
      for: {{ .for }}
      labels:
        severity: {{ .severity }}
        redisqueue: {{ $x }}
      annotations:
        summary: {{ printf "Redis of RedisQueue %s runs without AOF" $x | quote }}
        description: {{ printf "Redis of RedisQueue %s in {{ $labels.namespace }} reports appendonly off (CONFIG SET appendonly no, or a redis.conf not written by the operator): jobs are not persisted and a restart loses the queue." $x | quote }}
{{- end }}{{ end }}
{{- with $al.aofRewriteFailing }}{{ if .enabled }}
    - alert: RedisQueueAOFRewriteFailing
      expr: min by (namespace, service) (redis_queue_aof_last_rewrite_ok{ {{- $m -}} }) == 0
      for: {{ .for }}
      labels:
        severity: {{ .severity }}
        redisqueue: {{ $x }}
      annotations:
        summary: {{ printf "Redis of RedisQueue %s failed to rewrite its AOF" $x | quote }}
        description: {{ printf "The last AOF rewrite (BGREWRITEAOF) of RedisQueue %s in {{ $labels.namespace }} failed (disk full, fork failed? see the Redis log): jobs are still written to the AOF, but it keeps growing, and a restart replays all of it." $x | quote }}
{{- end }}{{ end }}
{{- with $al.memoryNearMax }}{{ if .enabled }}
    - alert: RedisQueueMemoryNearMax
      expr: max by (namespace, service) (redis_queue_redis_memory_used_bytes{ {{- $m -}} } / redis_queue_redis_memory_max_bytes{ {{- $m -}} }) > {{ .threshold }}
      for: {{ .for }}
      labels:
        severity: {{ .severity }}
        redisqueue: {{ $x }}
      annotations:
        summary: {{ printf "Redis of RedisQueue %s uses {{ $value | humanizePercentage }} of its maxmemory" $x | quote }}
        description: {{ printf "Redis of RedisQueue %s in {{ $labels.namespace }} has used more than %v of its maxmemory for %s. With maxmemory-policy noeviction a full Redis refuses every new job (producers get OOM errors) until workers drain the queues or maxmemory is raised; with an evicting policy it deletes keys instead." $x .threshold .for | quote }}
{{- end }}{{ end }}
{{- with $al.deadLettersGrowing }}{{ if .enabled }}
    - alert: RedisQueueDeadLettersGrowing
      expr: max by (namespace, service, queue) (increase(redis_queue_jobs_dead_lettered_total{ {{- $m -}} }[{{ .window }}])) > 0
      for: {{ .for }}
      labels:
        severity: {{ .severity }}
        redisqueue: {{ $x }}
      annotations:
        summary: {{ printf "Queue {{ $labels.queue }} moved payloads to its dead-letter list in the last %s" .window | quote }}
        description: {{ printf "Workers of queue {{ $labels.queue }} (RedisQueue %s in {{ $labels.namespace }}) moved payloads that are no valid job to its dead-letter list within %s: a producer sends malformed jobs. Read them with `queuectl dlq list --queue {{ $labels.queue }}`, fix the producer, then `queuectl dlq requeue`." $x .window | quote }}
{{- end }}{{ end }}
{{- with $al.workersGone }}{{ if .enabled }}
    - alert: RedisQueueWorkersGone
      expr: (max by (namespace, service, queue) (redis_queue_depth{ {{- $m -}} }) > 0) and on (namespace, service, queue) (max by (namespace, service, queue) (redis_queue_workers{ {{- $m -}} }) == 0) and on (namespace, service, queue) (max by (namespace, service, queue) (max_over_time(redis_queue_workers{ {{- $m -}} }[{{ .lookback }}])) > 0)
      for: {{ .for }}
      labels:
        severity: {{ .severity }}
        redisqueue: {{ $x }}
      annotations:
        summary: {{ `Queue {{ $labels.queue }} holds {{ $value }} jobs and no live worker` | quote }}
        description: {{ printf "Queue {{ $labels.queue }} of RedisQueue %s in {{ $labels.namespace }} has had jobs waiting and no reliable consumer with a live heartbeat for %s, after having workers within %s: the workers crashed, were scaled to zero or lost Redis. Check the worker Deployment and its HPA." $x .for .lookback | quote }}
{{- end }}{{ end }}
{{- with $al.keyError }}{{ if .enabled }}
    - alert: RedisQueueKeyError
      expr: max by (namespace, service, queue, error) (redis_queue_key_error{ {{- $m -}} }) > 0
      for: {{ .for }}
      labels:
        severity: {{ .severity }}
        redisqueue: {{ $x }}
      annotations:
        summary: {{ `Queue key {{ $labels.queue }} is not a list ({{ $labels.error }})` | quote }}
        description: {{ printf "The key {{ $labels.queue }} of RedisQueue %s holds a value that is not a list: producers and workers fail on it." $x | quote }}
{{- end }}{{ end }}
{{- with $al.exporterAbsent }}{{ if .enabled }}
    - alert: RedisQueueExporterAbsent
      expr: absent(redis_queue_up{ {{- $m -}} })
      for: {{ .for }}
      labels:
        severity: {{ .severity }}
        redisqueue: {{ $x }}
      annotations:
        summary: {{ printf "No metrics from the exporter of RedisQueue %s" $x | quote }}
        description: {{ printf "Prometheus has no redis_queue_up series from %s in %s: the exporter is down or not scraped, so depth alerts and autoscaling are blind." (include "redis-queue.exporterService" $) $.Release.Namespace | quote }}
{{- end }}{{ end }}
{{- end }}
{{- if ne .Values.autoscaling.engine "none" }}
- name: {{ include "redis-queue.fullname" . }}.autoscaling
  rules:
    - record: {{ include "redis-queue.signalRecord" . }}
      expr: {{ include "redis-queue.signalRecordExpr" . | quote }}
{{- end }}
{{- end -}}
