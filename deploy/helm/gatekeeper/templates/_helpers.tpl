{{/* Names, labels and the paths where the chart mounts what Gatekeeper reads. */}}

{{- define "gatekeeper.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gatekeeper.fullname" -}}
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

{{- define "gatekeeper.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gatekeeper.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gatekeeper.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "gatekeeper.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gatekeeper
{{- end -}}

{{- define "gatekeeper.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "gatekeeper.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "gatekeeper.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding Gatekeeper's own Vault token, for methods that use one. */}}
{{- define "gatekeeper.tokenSecretName" -}}
{{- $a := .Values.vault.auth -}}
{{- if eq $a.method "vaultSecretsOperator" -}}
{{- default (printf "%s-vault-token" (include "gatekeeper.fullname" .)) $a.vaultSecretsOperator.secretName -}}
{{- else if eq $a.method "token" -}}
{{- $a.token.secretName -}}
{{- end -}}
{{- end -}}

{{- define "gatekeeper.tokenKey" -}}
{{- if eq .Values.vault.auth.method "vaultSecretsOperator" -}}
{{- .Values.vault.auth.vaultSecretsOperator.key -}}
{{- else -}}
{{- .Values.vault.auth.token.key -}}
{{- end -}}
{{- end -}}

{{/* Where Gatekeeper reads its Vault token. */}}
{{- define "gatekeeper.tokenFile" -}}
{{- if eq .Values.vault.auth.method "agentInjector" -}}
/vault/secrets/token
{{- else -}}
{{- printf "/var/run/secrets/gatekeeper/vault/%s" (include "gatekeeper.tokenKey" .) -}}
{{- end -}}
{{- end -}}

{{- define "gatekeeper.scheme" -}}
{{- if .Values.http.tls.enabled -}}HTTPS{{- else -}}HTTP{{- end -}}
{{- end -}}

{{/*
The configuration file: the operator's `config` with the keys the chart
owns laid over it (addresses, listeners and every file it mounts).
*/}}
{{- define "gatekeeper.config" -}}
{{- $cfg := deepCopy (default dict .Values.config) -}}
{{- $own := dict "vault_addr" .Values.vault.address -}}
{{- if eq .Values.vault.auth.method "kubernetes" -}}
{{- $k := .Values.vault.auth.kubernetes -}}
{{- $_ := set $own "vault_auth" (dict "method" "kubernetes" "kubernetes" (dict "role" $k.role "mount" $k.mount "jwt_file" "/var/run/secrets/gatekeeper/sa/token")) -}}
{{- else if eq .Values.vault.auth.method "approle" -}}
{{- $r := .Values.vault.auth.approle -}}
{{- $_ := set $own "vault_auth" (dict "method" "approle" "approle" (dict "mount" $r.mount "role_id_file" (printf "/var/run/secrets/gatekeeper/approle/%s" $r.roleIdKey) "secret_id_file" (printf "/var/run/secrets/gatekeeper/approle/%s" $r.secretIdKey))) -}}
{{- else -}}
{{- $_ := set $own "vault_token_file" (include "gatekeeper.tokenFile" .) -}}
{{- end -}}
{{- with .Values.vault.namespace -}}
{{- $_ := set $own "vault_namespace" . -}}
{{- end -}}
{{- $http := dict "listen" (printf "0.0.0.0:%d" (int .Values.http.port)) -}}
{{- if .Values.http.tls.enabled -}}
{{- $_ := set $http "tls_cert_file" "/var/run/secrets/gatekeeper/tls/tls.crt" -}}
{{- $_ := set $http "tls_key_file" "/var/run/secrets/gatekeeper/tls/tls.key" -}}
{{- end -}}
{{- if .Values.http.clientCA.secretName -}}
{{- $_ := set $http "client_ca_file" (printf "/var/run/secrets/gatekeeper/client-ca/%s" .Values.http.clientCA.key) -}}
{{- end -}}
{{- if .Values.secrets.metricsToken.secretName -}}
{{- $_ := set $http "metrics_token_file" (printf "/var/run/secrets/gatekeeper/metrics-token/%s" .Values.secrets.metricsToken.key) -}}
{{- end -}}
{{- $_ := set $own "http" $http -}}
{{- if .Values.secrets.jwt.secretName -}}
{{- $_ := set $own "auth" (dict "jwt" (dict "hs256_secret_file" (printf "/var/run/secrets/gatekeeper/jwt/%s" .Values.secrets.jwt.key))) -}}
{{- end -}}
{{- if .Values.secrets.auditKey.secretName -}}
{{- $_ := set $own "audit" (dict "key_file" (printf "/var/run/secrets/gatekeeper/audit-key/%s" .Values.secrets.auditKey.key)) -}}
{{- end -}}
{{- if .Values.secrets.operatorToken.secretName -}}
{{- $_ := set $own "status" (dict "operator_token_file" (printf "/var/run/secrets/gatekeeper/operator-token/%s" .Values.secrets.operatorToken.key)) -}}
{{- end -}}
{{- $approval := dict -}}
{{- if .Values.secrets.duo.secretName -}}
{{- $_ := set $approval "duo" (dict "secret_key_file" (printf "/var/run/secrets/gatekeeper/duo/%s" .Values.secrets.duo.key)) -}}
{{- end -}}
{{- $passkey := dict -}}
{{- if .Values.secrets.passkeyEnroll.secretName -}}
{{- $_ := set $passkey "enroll_token_file" (printf "/var/run/secrets/gatekeeper/passkey-enroll/%s" .Values.secrets.passkeyEnroll.key) -}}
{{- end -}}
{{- if $passkey -}}
{{- $_ := set $approval "passkey" $passkey -}}
{{- end -}}
{{- if .Values.passkeyPage.enabled -}}
{{- $page := dict "listen" (printf "0.0.0.0:%d" (int .Values.passkeyPage.port)) -}}
{{- if .Values.http.tls.enabled -}}
{{- $_ := set $page "tls_cert_file" "/var/run/secrets/gatekeeper/tls/tls.crt" -}}
{{- $_ := set $page "tls_key_file" "/var/run/secrets/gatekeeper/tls/tls.key" -}}
{{- end -}}
{{- $_ := set $approval "page" $page -}}
{{- end -}}
{{- if $approval -}}
{{- $_ := set $own "approval" $approval -}}
{{- end -}}
{{- toYaml (mustMergeOverwrite $cfg $own) -}}
{{- end -}}

{{/* Refuse values that cannot work, with a message that says what to set. */}}
{{- define "gatekeeper.validate" -}}
{{- if not .Values.vault.address -}}
{{- fail "vault.address is required (the Vault or OpenBao URL, e.g. https://openbao.openbao.svc:8200)" -}}
{{- end -}}
{{- if and (eq .Values.vault.auth.method "token") (not .Values.vault.auth.token.secretName) -}}
{{- fail "vault.auth.method token needs vault.auth.token.secretName: a Secret holding the token from gatekeeper setup (or choose agentInjector / vaultSecretsOperator)" -}}
{{- end -}}
{{- if and (eq .Values.vault.auth.method "approle") (not .Values.vault.auth.approle.secretName) -}}
{{- fail "vault.auth.method approle needs vault.auth.approle.secretName: a Secret holding the role id and a secret id (gatekeeper setup --approle)" -}}
{{- end -}}
{{- if and .Values.http.tls.enabled (not .Values.http.tls.secretName) -}}
{{- fail "http.tls.enabled needs http.tls.secretName (a kubernetes.io/tls Secret)" -}}
{{- end -}}
{{- if and .Values.passkeyPage.enabled (not .Values.http.tls.enabled) -}}
{{- fail "passkeyPage.enabled needs http.tls.enabled: the approval page is served over HTTPS off loopback" -}}
{{- end -}}
{{- if and (default dict .Values.config).audit_file (not .Values.secrets.auditKey.secretName) -}}
{{- fail "config.audit_file needs secrets.auditKey: a Secret holding the audit chain's key (head -c 32 /dev/urandom | base64)" -}}
{{- end -}}
{{- range $k := list "vault_addr" "vault_token_file" "vault_auth" "vault_namespace" -}}
{{- if hasKey (default dict $.Values.config) $k -}}
{{- fail (printf "config.%s is set by the chart; use vault.address, vault.namespace and vault.auth instead" $k) -}}
{{- end -}}
{{- end -}}
{{- end -}}
