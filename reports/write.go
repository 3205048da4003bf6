package reports

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/chaosrun/chaosrun/reports/result"
)

// File names in a run directory.
const (
	MarkdownFile = "report.md"
	HTMLFile     = "report.html"
	JUnitFile    = "junit.xml"
)

// renderers lists every rendering WriteDir produces, in order.
var renderers = []struct {
	name   string
	render func(io.Writer, *result.Result) error
}{
	{MarkdownFile, renderMarkdown},
	{HTMLFile, renderHTML},
	{JUnitFile, renderJUnit},
}

// WriteDir writes result.json and every rendering of r into dir, which must
// exist. Each file is rendered in memory first, so a rendering error leaves
// no partial file behind.
func WriteDir(dir string, r *result.Result) error {
	var buf bytes.Buffer
	if err := result.Write(&buf, r); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, result.FileName), buf.Bytes()); err != nil {
		return err
	}
	// Render what was written, so that the reports match result.json.
	stored, err := result.Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		return err
	}
	return render(dir, stored)
}

// RenderDir re-renders the reports of dir from its result.json.
func RenderDir(dir string) (*result.Result, error) {
	r, err := result.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reports: %s: %w", dir, err)
	}
	return r, render(dir, r)
}

func render(dir string, r *result.Result) error {
	for _, rd := range renderers {
		var buf bytes.Buffer
		if err := rd.render(&buf, r); err != nil {
			return err
		}
		if err := writeFile(filepath.Join(dir, rd.name), buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, b []byte) error {
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("reports: write %s: %w", filepath.Base(path), err)
	}
	return nil
}
