module meetview/linkemu

go 1.21
