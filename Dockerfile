# Latchkey: one static binary on a distroless base.
#   docker build -t latchkey .
#   docker run --rm -p 8080:8080 latchkey          # embedded NATS, data in the container

FROM golang:1.26 AS build
WORKDIR /src
# go.mod asks for go 1.26.8; fetch that toolchain if this image is older.
ENV GOTOOLCHAIN=auto
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/latchkey ./cmd/latchkey \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/latchkey /usr/local/bin/latchkey
# The data directory: the embedded JetStream store, master.key and
# bootstrap-admin.json when they are not given by the environment. With an
# external NATS and LATCHKEY_MASTER_KEY/LATCHKEY_BOOTSTRAP_CLIENT_SECRET set,
# nothing is written there and the container is stateless.
COPY --from=build --chown=65532:65532 /out/data /var/lib/latchkey
WORKDIR /var/lib/latchkey
ENV LATCHKEY_DATA=/var/lib/latchkey \
    LATCHKEY_HTTP=0.0.0.0:8080
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/latchkey"]
CMD ["serve"]
