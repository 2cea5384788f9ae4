# The edge. The configuration is rendered at build time by nginx/render.ts (target "compose") from
# what this nginx build supports (`nginx -V`: HTTP/3, `server … resolve`), then baked into the image.
# Certificates are mounted at run time (/etc/nginx/certs: server.crt, server.key, ca.crt, crl.pem).
ARG NGINX_IMAGE=nginx:1.30.4-alpine
ARG BUN_IMAGE=oven/bun:1.4.5-alpine

FROM ${NGINX_IMAGE} AS nginx-build-info
RUN nginx -V 2> /tmp/nginx-V.txt

FROM ${BUN_IMAGE} AS render
ARG NGINX_PUBLIC_HTTPS_PORT=443
ARG SERVER_NAMES=localhost
ARG CHAT_PING_INTERVAL_SECONDS=25
ARG EDGE_AUTH_PER_MINUTE=20
ARG EDGE_AUTH_BURST=10
ARG EDGE_API_PER_SECOND=50
ARG EDGE_API_BURST=200
ARG EDGE_WS_CONNECTIONS_PER_IP=64
ARG EDGE_WS_UPGRADES_PER_SECOND=20
ARG EDGE_WS_UPGRADE_BURST=100
ARG NGINX_WORKER_CONNECTIONS=65536
COPY nginx/render.ts /src/nginx/render.ts
COPY --from=nginx-build-info /tmp/nginx-V.txt /src/nginx-V.txt
RUN bun /src/nginx/render.ts --target compose --nginx-v-file /src/nginx-V.txt --out /src/nginx.conf

FROM ${NGINX_IMAGE}
COPY --from=render /src/nginx.conf /etc/xplicit/nginx.conf
COPY public/ /srv/xplicit/public/
EXPOSE 80 443 443/udp
CMD ["nginx", "-c", "/etc/xplicit/nginx.conf", "-e", "stderr"]
