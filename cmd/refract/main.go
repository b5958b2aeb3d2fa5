// Command refract is Refract's single binary: the all-in-one dev node
// and the tools around it.
package main

import (
	"fmt"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usageText = `refract — a self-hosted, Cloudinary-compatible image delivery network

Usage:
  refract dev [flags]        run origin and edge in one process on local disk
  refract origin [flags]     run an origin node of a fleet (--config configs/origin.yaml)
  refract edge [flags]       run an edge (PoP) in front of the origins (--config configs/edge.yaml)
  refract sign-url [flags]   sign a delivery path with a cloud's secret
  refract version            print the version

Run "refract <command> -h" for a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usageText)
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "dev":
		err = runDev(args)
	case "origin":
		err = runOrigin(args)
	case "edge":
		err = runEdge(args)
	case "sign-url":
		err = runSignURL(args, os.Stdout)
	case "version", "-v", "--version":
		fmt.Println("refract", version)
	case "help", "-h", "--help":
		fmt.Print(usageText)
	default:
		fmt.Fprintf(os.Stderr, "refract: unknown command %q\n\n%s", cmd, usageText)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "refract:", err)
		os.Exit(1)
	}
}
