package scenario

import "flag"

// rewrite regenerates the golden plans and the generated seeds of the fuzz
// corpus under testdata/:
//
//	go test ./scenario -run 'TestPlanGolden|TestFuzzCorpusCurrent' -rewrite
var rewrite = flag.Bool("rewrite", false, "rewrite the golden plans and the generated fuzz seeds under testdata/")
