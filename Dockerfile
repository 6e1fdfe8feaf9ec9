# One image for every pilot-wms service; docker-compose.yml picks the command.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund || npm ci --no-audit --no-fund
COPY . .
ENTRYPOINT ["node", "bin/wms.mjs"]
CMD ["--help"]
