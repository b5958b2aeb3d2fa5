module github.com/refract-cdn/refract

go 1.26.8

tool github.com/cshum/vipsgen/cmd/vipsgen

require github.com/cespare/xxhash/v2 v2.3.0

require github.com/cshum/vipsgen v1.3.10 // indirect
