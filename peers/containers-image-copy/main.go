// containers-image-copy copies an image between two places with containers/image (go.podman.io/image/v5), the
// library skopeo, podman, buildah and CRI-O pull and push with: `copy.Image` as `skopeo copy` calls it. It stands
// in for skopeo, whose module is not served here, as a test peer of registry-tasks (see
// registry_tasks/tools/peers.py). Transports: docker://HOST/REPO:TAG, oci:DIR[:TAG], dir:DIR.
//
//	containers-image-copy [--src-tls-verify=false] [--dest-tls-verify=false] SRC DST
//
// --*-tls-verify=false also lets a docker:// registry answer over plain http (containers/image falls back to http
// when TLS verification is off), as for skopeo. Signatures are not checked (an insecure accept-anything policy).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"go.podman.io/image/v5/copy"
	_ "go.podman.io/image/v5/directory"
	_ "go.podman.io/image/v5/docker"
	_ "go.podman.io/image/v5/oci/layout"
	"go.podman.io/image/v5/signature"
	"go.podman.io/image/v5/transports"
	"go.podman.io/image/v5/types"
)

func main() {
	srcVerify := flag.Bool("src-tls-verify", true, "require HTTPS and verify certificates of a docker:// source")
	destVerify := flag.Bool("dest-tls-verify", true, "require HTTPS and verify certificates of a docker:// destination")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [flags] SRC DST  (docker://HOST/REPO:TAG, oci:DIR[:TAG], dir:DIR)\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 2 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), flag.Arg(1), *srcVerify, *destVerify); err != nil {
		fmt.Fprintf(os.Stderr, "containers-image-copy: %v\n", err)
		os.Exit(1)
	}
}

func run(srcName, destName string, srcVerify, destVerify bool) error {
	src, err := parse(srcName)
	if err != nil {
		return err
	}
	dest, err := parse(destName)
	if err != nil {
		return err
	}
	policy, err := signature.NewPolicyContext(&signature.Policy{
		Default: signature.PolicyRequirements{signature.NewPRInsecureAcceptAnything()},
	})
	if err != nil {
		return err
	}
	defer func() { _ = policy.Destroy() }()
	// A blob info cache of this copy's own: no cache file of the user's or root's is read or written, and no
	// earlier copy's knowledge changes which requests this one sends.
	cache, err := os.MkdirTemp("", "containers-image-copy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cache)
	_, err = copy.Image(context.Background(), policy, dest, src, &copy.Options{
		SourceCtx:      system(srcVerify, cache),
		DestinationCtx: system(destVerify, cache),
		ReportWriter:   os.Stdout,
	})
	return err
}

// parse reads TRANSPORT:REST as skopeo does, for the transports linked in.
func parse(name string) (types.ImageReference, error) {
	transportName, rest, ok := strings.Cut(name, ":")
	transport := transports.Get(transportName)
	if !ok || transport == nil {
		return nil, fmt.Errorf("%q: not docker://..., oci:... or dir:...", name)
	}
	return transport.ParseReference(rest)
}

func system(verify bool, cache string) *types.SystemContext {
	return &types.SystemContext{DockerInsecureSkipTLSVerify: types.NewOptionalBool(!verify), BlobInfoCacheDir: cache}
}
