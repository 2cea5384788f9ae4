# One image for the api, the chat replicas, the notification worker and the migration step
# (each service picks its command in docker-compose.yml).
#
# BUN_IMAGE is a build argument so an offline mirror or a local stand-in can replace the registry
# image (compose/standins/build-standins.sh). The image is built from the checked-out tree with its
# installed dependencies (run `npm ci` first); .dockerignore leaves out the dev-only packages.
ARG BUN_IMAGE=oven/bun:1.4.5-alpine
FROM ${BUN_IMAGE}
WORKDIR /app
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    HOME=/tmp \
    BUN_RUNTIME_TRANSPILER_CACHE_PATH=0
COPY package.json tsconfig.json ./
COPY node_modules/ node_modules/
COPY shared/ shared/
COPY services/ services/
COPY public/ public/
USER 1000:1000
CMD ["bun", "services/api/src/main.ts"]
