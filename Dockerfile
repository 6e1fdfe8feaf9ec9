# One image for every pilot-wms service; docker-compose.yml picks the command.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
# Dependencies first (a layer that survives source edits); the build needs the sources, so it runs
# after the copy, then the devDependencies (TypeScript, tsx, vitest) are dropped from the image.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev --no-audit --no-fund
ENTRYPOINT ["node", "bin/wms.mjs"]
CMD ["--help"]
