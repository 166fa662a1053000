# deskwire on Node 20 (the Node versions the uWebSockets.js npm mirror ships binaries for).
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
COPY client/package.json ./client/
RUN npm ci --omit=dev --no-audit --no-fund
COPY migrations ./migrations
COPY sql ./sql
COPY src ./src
COPY client ./client
COPY console ./console
RUN mkdir -p /data/media && chown -R node:node /data
USER node
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8000 WS_PORT=8001 DATA_DIR=/data MEDIA_DIR=/data/media
EXPOSE 8000 8001 9464
# The same flags as `npm start` (package.json): a young generation of fixed size.
CMD ["node", "--min-semi-space-size=16", "--max-semi-space-size=16", "--import", "tsx", "src/main.ts"]
