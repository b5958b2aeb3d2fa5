package main

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/refract-cdn/refract/shared/sign"
)

//go:embed sample.jpg
var sampleJPEG []byte

// demo uploads the bundled sample through the node's own Upload API,
// signed as an SDK would sign it, then fetches each example URL through
// the edge before printing it, so every printed URL is known to work.
func (n *devNode) demo(w io.Writer) error {
	params := url.Values{
		"public_id": {"samples/landscape"},
		"timestamp": {strconv.FormatInt(time.Now().Unix(), 10)},
	}
	params.Set("signature", sign.Hex(sign.UploadToSign(params), n.creds.APISecret, sign.SHA1))
	params.Set("api_key", n.creds.APIKey)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k := range params {
		mw.WriteField(k, params.Get(k))
	}
	fw, _ := mw.CreateFormFile("file", "landscape.jpg")
	fw.Write(sampleJPEG)
	mw.Close()
	resp, err := http.Post("http://"+n.apiAddr+"/v1_1/"+n.creds.Name+"/image/upload", mw.FormDataContentType(), &body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var res struct {
		PublicID string `json:"public_id"`
		Version  int64  `json:"version"`
		URL      string `json:"url"`
		Error    *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return err
	}
	if res.Error != nil {
		return fmt.Errorf("upload: %s", res.Error.Message)
	}
	base := "http://" + n.edgeAddr + "/" + n.creds.Name + "/image/upload/"
	id := res.PublicID + ".jpg"
	signedTx := "w_400,h_400,c_fill,g_auto"
	sig := sign.Delivery(sign.DeliveryToSign(signedTx, id), n.creds.APISecret, false)
	examples := []struct{ what, url string }{
		{"original (as uploaded)", res.URL},
		{"300 px wide", base + "w_300,c_scale/" + id},
		{"200×200 fill", base + "c_fill,w_200,h_200/" + id},
		{"best format for the browser", base + "w_600,f_auto,q_auto/" + res.PublicID},
		{"grayscale, padded", base + "w_300,h_300,c_pad,b_black/e_grayscale/" + id},
		{"signed URL", base + "s--" + sig + "--/" + signedTx + "/" + id},
	}
	fmt.Fprintf(w, "Uploaded the sample as %q (version %d). Try:\n", res.PublicID, res.Version)
	for _, e := range examples {
		status := "?"
		if r, err := http.Get(e.url); err == nil {
			io.Copy(io.Discard, r.Body)
			r.Body.Close()
			status = fmt.Sprintf("%d %s", r.StatusCode, r.Header.Get("Content-Type"))
		}
		fmt.Fprintf(w, "  %-30s %s\n  %-30s   [%s]\n", e.what, e.url, "", status)
	}
	fmt.Fprintln(w, "\nPress Ctrl-C to stop.")
	return nil
}
