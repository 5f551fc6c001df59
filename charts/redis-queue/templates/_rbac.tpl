{{/*
The operator's RBAC rules: the same as manifests/rbac/cluster-role.yaml (a test compares them;
the reasons for each verb are written there). All are namespaced resources, so the same rules
serve as a Role (operator.clusterWide false, `queue-operator -n <release namespace>`) or as a
ClusterRole (`queue-operator -A`).
*/}}
{{- define "redis-queue.operator.rules" -}}
- apiGroups: [queues.ai-agents.io]
  resources: [redisqueues]
  verbs: [get, list, watch, patch]
- apiGroups: [queues.ai-agents.io]
  resources: [redisqueues/status]
  verbs: [patch]
- apiGroups: [queues.ai-agents.io]
  resources: [redisqueues/finalizers]
  verbs: [update]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, create, patch]
- apiGroups: [""]
  resources: [services]
  verbs: [get, create, patch, delete]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, create]
- apiGroups: [apps]
  resources: [statefulsets]
  verbs: [get, create, patch]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, create, patch, delete]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, create, patch, delete]
{{- end -}}
