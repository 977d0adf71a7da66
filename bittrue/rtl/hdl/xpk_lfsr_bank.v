// XPK-1 bank of NREG Fibonacci LFSRs (spec 2.1), shift-left form, one shift per clock while `en`:
//     s <= {s[n-2:0], fb},   fb = ^(s & TAP_MASK)
// TAP_MASK has bit t-1 set for each tap t (golden attribute lfsr_tap_mask).  A draw is s[K-1:0] read after
// steps_per_draw clocks (spec 2.2); `draws` holds the low K bits of every register, updated with the
// state (register g at [g*K +: K]).  `load` (wins over `en`) loads every register from `seeds`.
`timescale 1ns/1ps
module xpk_lfsr_bank #(
    parameter integer NREG = 1,
    parameter integer WIDTH = 16,          // register width n (8..32)
    parameter [63:0]  TAP_MASK = 64'hB400, // taps 16,14,13,11
    parameter integer K = 8                // draw width (1..WIDTH)
) (
    input  wire                  clk,
    input  wire                  load,
    input  wire [NREG*WIDTH-1:0] seeds,    // register g at [g*WIDTH +: WIDTH]
    input  wire                  en,
    output reg  [NREG*K-1:0]     draws
);
    reg [WIDTH-1:0] st [0:NREG-1];
    reg [WIDTH-1:0] nx;
    reg [NREG*K-1:0] dr;
    integer g;
    always @(posedge clk) begin
        if (load || en) begin
            for (g = 0; g < NREG; g = g + 1) begin
                nx = load ? seeds[g*WIDTH +: WIDTH] : {st[g][WIDTH-2:0], ^(st[g] & TAP_MASK[WIDTH-1:0])};
                st[g] <= nx;
                dr[g*K +: K] = nx[K-1:0];
            end
            draws <= dr;
        end
    end
endmodule
